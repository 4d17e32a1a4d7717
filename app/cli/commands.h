#pragma once
// Each `trimvl` subcommand lives in its own cli/cmd_<name>.cpp and registers itself here. A
// command's callback returns the process exit code; errors propagate as trimvl::Error and are
// reported once by main().
#include <CLI/CLI.hpp>

namespace trimvl::cli {

void register_ask(CLI::App& app);
void register_bench(CLI::App& app);
void register_chat(CLI::App& app);
void register_eval(CLI::App& app);
void register_info(CLI::App& app);
void register_score(CLI::App& app);
void register_tokenize(CLI::App& app);
void register_trace(CLI::App& app);

}  // namespace trimvl::cli
