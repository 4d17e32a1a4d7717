// trimvl: command line front end. Results go to stdout; diagnostics and errors to stderr.
// Exit codes: 0 ok, 1 error in the input or the run, 2 usage error, 3 unsupported, 4 internal
// error (a bug: please report it), 130 cancelled.
#include <cstdio>
#include <exception>

#include <CLI/CLI.hpp>

#include "app/cli/commands.h"
#include "kernels/runtime/error.h"
#include "kernels/runtime/log.h"

namespace {

int exit_code(trimvl::Error::Kind kind) {
  switch (kind) {
    case trimvl::Error::Kind::InvalidInput:
    case trimvl::Error::Kind::NotFound: return 1;
    case trimvl::Error::Kind::Unsupported: return 3;
    case trimvl::Error::Kind::Internal: return 4;
    case trimvl::Error::Kind::Cancelled: return 130;
  }
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  trimvl::log::init_from_env();
  CLI::App app{"trimvl: vision-language models with a memory-bounded, learned-retention KV cache"};
  app.set_version_flag("--version", "trimvl 0.1.0");
  app.require_subcommand(1);
  app.fallthrough();
  int verbosity = 0;
  bool quiet = false;
  app.add_flag("-v,--verbose", verbosity, "More diagnostics on stderr (-v debug, -vv trace); or TRIMVL_LOG=level");
  app.add_flag("-q,--quiet", quiet, "Only errors on stderr");
  // A subcommand that must exit non-zero without an error throws CLI::RuntimeError(code).
  app.parse_complete_callback([&] {
    if (quiet) trimvl::log::set_level(trimvl::log::Level::Error);
    else if (verbosity >= 2) trimvl::log::set_level(trimvl::log::Level::Trace);
    else if (verbosity == 1) trimvl::log::set_level(trimvl::log::Level::Debug);
  });

  trimvl::cli::register_ask(app);
  trimvl::cli::register_bench(app);
  trimvl::cli::register_chat(app);
  trimvl::cli::register_eval(app);
  trimvl::cli::register_info(app);
  trimvl::cli::register_score(app);
  trimvl::cli::register_tokenize(app);
  trimvl::cli::register_trace(app);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);  // prints help/version or the usage error
    return rc == 0 ? 0 : 2;
  } catch (const trimvl::Error& e) {
    std::fprintf(stderr, "trimvl: error: %s\n", e.what());
    return exit_code(e.kind());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "trimvl: internal error: %s\n", e.what());
    return 4;
  }
  return 0;
}
