#include "kernels/runtime/log.h"

#include <atomic>
#include <cstdlib>
#include <memory>
#include <string>

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "kernels/runtime/error.h"

namespace trimvl::log {
namespace {

std::atomic<Level> g_level{Level::Info};

spdlog::logger& logger() {
  static std::shared_ptr<spdlog::logger> instance = [] {
    auto l = std::make_shared<spdlog::logger>("trimvl", std::make_shared<spdlog::sinks::stderr_color_sink_mt>());
    l->set_pattern("[%H:%M:%S.%e] [%^%l%$] %v");
    l->set_level(spdlog::level::trace);  // filtering happens in the facade, before formatting
    return l;
  }();
  return *instance;
}

}  // namespace

void set_level(Level level) { g_level.store(level, std::memory_order_relaxed); }
Level level() { return g_level.load(std::memory_order_relaxed); }

Level parse_level(std::string_view name) {
  static constexpr std::pair<std::string_view, Level> kNames[] = {
      {"trace", Level::Trace}, {"debug", Level::Debug}, {"info", Level::Info},
      {"warn", Level::Warn},   {"warning", Level::Warn}, {"error", Level::Error}, {"off", Level::Off}};
  for (const auto& [n, l] : kNames)
    if (n == name) return l;
  throw Error(fmt::format("unknown log level '{}' (expected trace, debug, info, warn, error or off)", name));
}

void init_from_env() {
  if (const char* env = std::getenv("TRIMVL_LOG"); env != nullptr && *env != '\0') {
    try {
      set_level(parse_level(env));
    } catch (const Error& e) {
      write(Level::Warn, fmt::format("TRIMVL_LOG: {}", e.message()));
    }
  }
}

void write(Level level, std::string_view message) {
  static constexpr spdlog::level::level_enum kMap[] = {spdlog::level::trace, spdlog::level::debug,
                                                       spdlog::level::info,  spdlog::level::warn,
                                                       spdlog::level::err,   spdlog::level::off};
  logger().log(kMap[static_cast<int>(level)], message);
}

}  // namespace trimvl::log
