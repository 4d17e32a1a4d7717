#pragma once
// Logging facade. Everything diagnostic goes to stderr through here; results go to stdout or
// files. spdlog stays behind this header so no other translation unit compiles it.
// Level: set_level() (the CLI's -v/-q) or the TRIMVL_LOG environment variable
// (trace|debug|info|warn|error|off). Arguments are formatted only when the level is enabled.
#include <string_view>

#include <fmt/format.h>

namespace trimvl::log {

enum class Level { Trace = 0, Debug, Info, Warn, Error, Off };

void set_level(Level level);
Level level();
inline bool enabled(Level l) { return l >= level() && l != Level::Off; }
// Parses "debug", "warn", ... ; throws trimvl::Error on an unknown name.
Level parse_level(std::string_view name);
// Applies TRIMVL_LOG if set; called once by front ends at start-up.
void init_from_env();
void write(Level level, std::string_view message);

template <typename... A> void trace(fmt::format_string<A...> f, A&&... a) {
  if (enabled(Level::Trace)) write(Level::Trace, fmt::format(f, std::forward<A>(a)...));
}
template <typename... A> void debug(fmt::format_string<A...> f, A&&... a) {
  if (enabled(Level::Debug)) write(Level::Debug, fmt::format(f, std::forward<A>(a)...));
}
template <typename... A> void info(fmt::format_string<A...> f, A&&... a) {
  if (enabled(Level::Info)) write(Level::Info, fmt::format(f, std::forward<A>(a)...));
}
template <typename... A> void warn(fmt::format_string<A...> f, A&&... a) {
  if (enabled(Level::Warn)) write(Level::Warn, fmt::format(f, std::forward<A>(a)...));
}
template <typename... A> void error(fmt::format_string<A...> f, A&&... a) {
  if (enabled(Level::Error)) write(Level::Error, fmt::format(f, std::forward<A>(a)...));
}

}  // namespace trimvl::log
