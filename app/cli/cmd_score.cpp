// trimvl score -m MODEL [--image A]... -p PROMPT --continuation TEXT [--json]: the log-probability
// of each token of TEXT as the assistant's answer, and their total.
#include <cstdio>
#include <memory>
#include <string>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "app/cli/commands.h"
#include "app/cli/request_options.h"
#include "app/engine.h"

namespace trimvl::cli {

void register_score(CLI::App& app) {
  struct Options {
    RequestOptions request;
    std::string continuation;
    bool json = false;
  };
  auto options = std::make_shared<Options>();
  auto* cmd = app.add_subcommand("score", "Log-probabilities of a given answer to a question");
  options->request.add_to(*cmd);
  cmd->add_option("--continuation", options->continuation, "The answer to score")->required()->group("Input");
  cmd->add_flag("--json", options->json, "Machine-readable output")->group("Output");
  cmd->callback([options] {
    app::Engine engine(options->request.engine);
    const app::Score score = engine.score(options->request.request(), options->continuation);
    std::string out;
    if (options->json) {
      nlohmann::json tokens = nlohmann::json::array();
      for (const auto& t : score.tokens) tokens.push_back({{"id", t.id}, {"piece", t.piece}, {"logprob", t.logprob}});
      out = nlohmann::json{{"tokens", tokens}, {"total", score.total}, {"prompt_tokens", score.stats.prompt_tokens}}
                .dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
    } else {
      for (size_t i = 0; i < score.tokens.size(); ++i) {
        const auto& t = score.tokens[i];
        out += fmt::format("{:>5} {:>8} {:>12.6f}  {:?}\n", i, t.id, t.logprob, t.piece);
      }
      out += fmt::format("total {:.6f} over {} tokens\n", score.total, score.tokens.size());
    }
    std::fwrite(out.data(), 1, out.size(), stdout);
    if (!options->request.dump_logits.empty()) engine.dump_logits(options->request.dump_logits);
  });
}

}  // namespace trimvl::cli
