#pragma once
// Ctrl-C cancels the engine's running request (it ends with Error(Cancelled)) instead of killing
// the process, while an InterruptScope is alive.
#include <atomic>
#include <csignal>

#include "app/engine.h"

namespace trimvl::cli {

inline std::atomic<app::Engine*> interrupted_engine{nullptr};

inline void on_interrupt(int) {
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

}  // namespace trimvl::cli
