#include "app/engine.h"

#include "app/pipeline/pipeline.h"

namespace trimvl::app {

struct Engine::Impl {
  explicit Impl(const EngineOptions& options) : pipeline(options) {}
  Pipeline pipeline;
};

Engine::Engine(const EngineOptions& options) : impl_(std::make_unique<Impl>(options)) {}
Engine::~Engine() = default;

Reply Engine::ask(const Request& request, const PieceCallback& on_piece) { return impl_->pipeline.ask(request, on_piece); }
Score Engine::score(const Request& request, std::string_view continuation) {
  return impl_->pipeline.score(request, continuation);
}
void Engine::dump_logits(const std::filesystem::path& path) const { impl_->pipeline.dump_logits(path); }
void Engine::cancel() { impl_->pipeline.cancel(); }
void Engine::reset() { impl_->pipeline.reset(); }
void Engine::set_kv_cache(const KvCacheSettings& settings) { impl_->pipeline.set_kv_cache(settings); }
int64_t Engine::context_length() const { return impl_->pipeline.context_length(); }

}  // namespace trimvl::app
