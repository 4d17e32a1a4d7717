// trimvl info PATH [--json]: what a checkpoint is, what it holds and what it lacks.
#include <cstdio>
#include <memory>
#include <string>

#include "app/cli/commands.h"
#include "app/model_info.h"
#include "app/snapshot.h"

namespace trimvl::cli {

void register_info(CLI::App& app) {
  struct Options {
    std::string path;
    bool json = false;
  };
  auto options = std::make_shared<Options>();
  auto* cmd = app.add_subcommand("info", "Describe a model: architecture, sizes, weights, retention gates, and the "
                                         "files it has or lacks");
  cmd->add_option("path", options->path,
                  "Snapshot or gate directory, or a hub id (Org/Name) present in the local Hugging Face cache")
      ->required();
  cmd->add_flag("--json", options->json, "Machine-readable output");
  cmd->callback([options] {
    const auto info = app::inspect_model(app::discover_snapshot(options->path));
    const std::string text = options->json ? app::render_json(info) : app::render_text(info);
    std::fwrite(text.data(), 1, text.size(), stdout);
  });
}

}  // namespace trimvl::cli
