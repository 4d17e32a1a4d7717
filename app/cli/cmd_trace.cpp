// trimvl trace FILE [--json] [--png OUT [--layer L [--head H]] [--event N]]: a retention trace
// (written by `trimvl ask --trace`) summarised on stdout, or drawn as two PNGs.
#include <cstdio>
#include <memory>
#include <optional>
#include <string>

#include "app/cli/commands.h"
#include "app/trace/trace_file.h"
#include "app/trace/trace_summary.h"
#include "kernels/runtime/error.h"
#include "kernels/runtime/log.h"
#ifdef TRIMVL_HAVE_MEDIA
#include "app/trace/trace_render.h"
#endif

namespace trimvl::cli {
#ifdef TRIMVL_HAVE_MEDIA
namespace {

// out.png -> out-modality.png, beside it.
std::filesystem::path modality_png(const std::filesystem::path& png) {
  return png.parent_path() / (png.stem().string() + "-modality" + png.extension().string());
}

}  // namespace
#endif

void register_trace(CLI::App& app) {
  struct Options {
    std::string path, png;
    std::optional<int> layer, head;
    std::optional<int64_t> event;
    bool json = false;
  };
  auto options = std::make_shared<Options>();
  auto* cmd = app.add_subcommand("trace", "Summarise a retention trace, or draw it as PNGs");
  cmd->add_option("file", options->path, "Trace file (trimvl ask --trace FILE)")->required();
  auto* json = cmd->add_flag("--json", options->json, "The summary as JSON");
  auto* png = cmd->add_option("--png", options->png,
                              "Write the retention heatmap to this PNG, and cached tokens by modality over time to "
                              "the same name with -modality before the extension (out.png -> out-modality.png)")
                  ->excludes(json);
  auto* layer = cmd->add_option("--layer", options->layer, "Heatmap: only this layer's kv heads")->needs(png);
  cmd->add_option("--head", options->head,
                  "Heatmap: this kv head of --layer, one row per eviction (its retention history)")
      ->needs(layer);
  cmd->add_option("--event", options->event, "Heatmap: the eviction to show, from 0 (default: the last)")->needs(png);
  cmd->callback([options] {
    const app::Trace trace = app::read_trace(options->path);
    if (options->png.empty()) {
      const std::string text =
          options->json ? app::trace_summary_json(trace, options->path) : app::trace_summary_text(trace, options->path);
      std::fwrite(text.data(), 1, text.size(), stdout);
      return;
    }
#ifdef TRIMVL_HAVE_MEDIA
    // Both pictures are drawn before either file is written: a bad --layer leaves nothing behind.
    app::HeatmapView view;
    view.layer = options->layer;
    view.head = options->head;
    view.event = options->event;
    std::optional<app::Heatmap> heatmap;
    std::optional<app::ModalityChart> chart;
    try {
      heatmap = app::render_heatmap(trace, view);
      chart = app::render_modality_chart(trace);
    } catch (Error& e) {  // a view the trace cannot give: say which trace
      e.file(options->path);
      throw;
    }
    const std::filesystem::path out = options->png, second = modality_png(out);
    app::write_png(heatmap->image, out);
    app::write_png(chart->image, second);
    log::info("wrote {} and {}", out.string(), second.string());
#else
    throw Error(
        "this build draws no PNGs (built with TRIMVL_MEDIA=OFF, without OpenCV); the summary works without "
        "--png",
        Error::Kind::Unsupported);
#endif
  });
}

}  // namespace trimvl::cli
