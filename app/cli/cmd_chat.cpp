// trimvl chat -m MODEL: a multi-turn conversation on stdin/stdout. Each line is a user turn; lines
// starting with '/' are commands (see kHelp). Images and videos given by /image and /video join the
// next turn. The engine keeps the conversation and its KV cache, so a turn prefills only what is new.
// Answers go to stdout, the prompt marker, statistics and errors to stderr. A bad line (a missing
// image, an unknown command) is reported and the conversation goes on; Ctrl-C stops the answer being
// generated and leaves the conversation as it was before that turn.
#include <cstdio>
#include <filesystem>
#include <optional>
#include <iostream>
#include <memory>
#include <string>
#include <system_error>
#include <vector>

#include <unistd.h>

#include "app/cli/commands.h"
#include "app/cli/interrupt.h"
#include "app/cli/request_options.h"
#include "app/engine.h"
#include "kernels/runtime/error.h"

namespace trimvl::cli {
namespace {

constexpr const char* kHelp =
    "commands: /image PATH, /video PATH (attach to the next message), /reset (new conversation), "
    "/stats (last turn), /help, /quit\n";

struct ChatOptions {
  app::EngineOptions engine;
  app::GenerationSettings generation;
  std::string system;
  std::optional<double> fps;
  std::optional<int64_t> max_frames;
};

std::string trim(const std::string& s) {
  const auto begin = s.find_first_not_of(" \t\r");
  if (begin == std::string::npos) return "";
  return s.substr(begin, s.find_last_not_of(" \t\r") - begin + 1);
}

class Chat {
 public:
  explicit Chat(const ChatOptions& options) : options_(options), engine_(options.engine) {}

  void run() {
    const bool interactive = ::isatty(STDIN_FILENO) != 0;
    if (interactive) std::fputs(kHelp, stderr);
    std::string line;
    while (true) {
      if (interactive) std::fputs("> ", stderr);
      if (!std::getline(std::cin, line)) break;
      line = trim(line);
      if (line.empty()) continue;
      if (line[0] == '/') {
        if (!command(line)) break;
      } else {
        turn(line);
      }
    }
  }

 private:
  // Returns false to end the chat.
  bool command(const std::string& line) {
    const auto space = line.find(' ');
    const std::string name = line.substr(0, space);
    const std::string arg = space == std::string::npos ? "" : trim(line.substr(space + 1));
    if (name == "/quit" || name == "/exit") return false;
    if (name == "/help") {
      std::fputs(kHelp, stderr);
    } else if (name == "/reset") {
      engine_.reset();
      pending_.clear();
      started_ = false;
      std::fputs("(new conversation)\n", stderr);
    } else if (name == "/stats") {
      if (last_) print_stats(*last_);
      else std::fputs("no turn yet\n", stderr);
    } else if ((name == "/image" || name == "/video") && !arg.empty()) {
      std::error_code ec;
      if (!std::filesystem::is_regular_file(arg, ec)) {
        std::fprintf(stderr, "trimvl: error: %s: no such media file\n", arg.c_str());
      } else if (name == "/image") {
        pending_.push_back(app::Part::image(arg));
      } else {
        pending_.push_back(app::Part::video(arg, options_.fps, options_.max_frames));
      }
    } else {
      std::fprintf(stderr, "trimvl: unknown command '%s'; %s", line.c_str(), kHelp);
    }
    return true;
  }

  void turn(const std::string& text) {
    app::Request request;
    request.generation = options_.generation;
    if (!started_ && !options_.system.empty())
      request.messages.push_back({app::Role::System, {app::Part::of_text(options_.system)}});
    app::Message user{app::Role::User, pending_};
    user.parts.push_back(app::Part::of_text(text));
    request.messages.push_back(std::move(user));
    pending_.clear();  // used by this turn, or dropped with it when it fails
    try {
      InterruptScope interrupt(engine_);
      app::Reply reply = engine_.ask(request, write_piece);
      std::fputc('\n', stdout);
      std::fflush(stdout);
      last_ = reply.stats;
      started_ = true;
    } catch (const Error& e) {
      std::fputc('\n', stdout);
      std::fflush(stdout);
      if (e.kind() == Error::Kind::Cancelled) std::fputs("(stopped; that turn is forgotten)\n", stderr);
      else std::fprintf(stderr, "trimvl: error: %s\n", e.what());
    }
  }

  const ChatOptions& options_;
  app::Engine engine_;
  std::vector<app::Part> pending_;
  std::optional<app::Stats> last_;
  bool started_ = false;
};

}  // namespace

void register_chat(CLI::App& app) {
  auto options = std::make_shared<ChatOptions>();
  auto* cmd = app.add_subcommand("chat", "Interactive multi-turn chat on stdin/stdout (/help lists the commands)");
  add_engine_options(*cmd, options->engine);
  cmd->add_option("--system", options->system, "A system message at the start of each conversation")->group("Input");
  cmd->add_option("--fps", options->fps, "Video frames sampled per second (default: the model's video processor config)")
      ->check(CLI::PositiveNumber)
      ->group("Input");
  cmd->add_option("--max-frames", options->max_frames, "At most this many sampled frames per video")
      ->check(CLI::PositiveNumber)
      ->group("Input");
  add_generation_options(*cmd, options->generation);
  cmd->callback([options] { Chat(*options).run(); });
}

}  // namespace trimvl::cli
