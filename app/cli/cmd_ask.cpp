// trimvl ask -m MODEL [--image A]... [--video V --fps 2 --max-frames N] -p QUESTION: one answer,
// streamed to stdout as it is generated; statistics on stderr. Ctrl-C stops the generation
// (exit 130).
#include <atomic>
#include <csignal>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "app/cli/commands.h"
#include "app/cli/request_options.h"
#include "app/engine.h"

namespace trimvl::cli {
namespace {

struct AskOptions {
  RequestOptions request;
  app::GenerationSettings generation;
};

std::atomic<app::Engine*> interrupted_engine{nullptr};

void on_interrupt(int) {
  if (auto* engine = interrupted_engine.load()) engine->cancel();  // an atomic store: signal-safe
}

// Routes Ctrl-C to the engine while it runs.
class InterruptScope {
 public:
  explicit InterruptScope(app::Engine& engine) {
    interrupted_engine.store(&engine);
    previous_ = std::signal(SIGINT, on_interrupt);
  }
  ~InterruptScope() {
    std::signal(SIGINT, previous_);
    interrupted_engine.store(nullptr);
  }
  InterruptScope(const InterruptScope&) = delete;
  InterruptScope& operator=(const InterruptScope&) = delete;

 private:
  void (*previous_)(int) = SIG_DFL;
};

}  // namespace

void register_ask(CLI::App& app) {
  auto options = std::make_shared<AskOptions>();
  auto* cmd = app.add_subcommand("ask", "Answer a question about images and videos; the answer streams to stdout");
  options->request.add_to(*cmd);
  auto& g = options->generation;
  const std::string group = "Generation (default: the model's generation_config.json)";
  cmd->add_option("--max-new-tokens", g.max_new_tokens, "At most this many tokens (default 512)")
      ->check(CLI::PositiveNumber)
      ->group(group);
  cmd->add_option("--temperature", g.temperature, "0: greedy; > 0 samples")->check(CLI::NonNegativeNumber)->group(group);
  cmd->add_option("--top-k", g.top_k, "Keep the k most likely tokens (0: off)")->check(CLI::NonNegativeNumber)->group(group);
  cmd->add_option("--top-p", g.top_p, "Nucleus: keep the smallest set of this much probability")
      ->check(CLI::Range(0.0, 1.0))
      ->group(group);
  cmd->add_option("--min-p", g.min_p, "Drop tokens below this fraction of the top probability")
      ->check(CLI::Range(0.0, 1.0))
      ->group(group);
  cmd->add_option("--repetition-penalty", g.repetition_penalty, "> 1 discourages repeating prompt and answer tokens")
      ->check(CLI::PositiveNumber)
      ->group(group);
  cmd->add_option("--seed", g.seed, "Sampling seed (default: a random one, logged)")->group(group);
  cmd->add_option("--stop", g.stop, "Stop when the answer contains this text; repeatable")->group(group);
  cmd->callback([options] {
    app::Engine engine(options->request.engine);
    app::Request request = options->request.request();
    request.generation = options->generation;
    app::Reply reply;
    {
      InterruptScope interrupt(engine);
      reply = engine.ask(request, [](std::string_view piece) {
        std::fwrite(piece.data(), 1, piece.size(), stdout);
        std::fflush(stdout);
      });
    }
    std::fputc('\n', stdout);
    std::fflush(stdout);
    print_stats(reply.stats);
    if (!options->request.dump_logits.empty()) engine.dump_logits(options->request.dump_logits);
  });
}

}  // namespace trimvl::cli
