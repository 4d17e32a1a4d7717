// trimvl ask -m MODEL [--image A]... [--video V --fps 2 --max-frames N] -p QUESTION: one answer,
// streamed to stdout as it is generated; statistics on stderr. Ctrl-C stops the generation
// (exit 130). --trace records what the KV cache kept (app/trace).
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "app/cli/commands.h"
#include "app/cli/interrupt.h"
#include "app/cli/request_options.h"
#include "app/engine.h"

namespace trimvl::cli {
namespace {

struct AskOptions {
  RequestOptions request;
  app::GenerationSettings generation;
  std::string trace;
};

}  // namespace

void register_ask(CLI::App& app) {
  auto options = std::make_shared<AskOptions>();
  auto* cmd = app.add_subcommand("ask", "Answer a question about images and videos; the answer streams to stdout");
  options->request.add_to(*cmd);
  add_generation_options(*cmd, options->generation);
  cmd->add_option("--trace", options->trace,
                  "Write a retention trace (what every layer and kv head kept, and when) to this file; render it "
                  "with `trimvl trace FILE --png out.png`")
      ->group("Output");
  cmd->callback([options] {
    app::Engine engine(options->request.engine);
    app::Request request = options->request.request();
    request.generation = options->generation;
    request.trace = options->trace;
    app::Reply reply;
    {
      InterruptScope interrupt(engine);
      reply = engine.ask(request, write_piece);
    }
    std::fputc('\n', stdout);
    std::fflush(stdout);
    print_stats(reply.stats);
    if (!options->request.dump_logits.empty()) engine.dump_logits(options->request.dump_logits);
  });
}

}  // namespace trimvl::cli
