#include "app/eval/progress.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <utility>

#include <fmt/format.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "kernels/runtime/log.h"

namespace trimvl::app::eval {
namespace {

double steady_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

int terminal_width(std::FILE* out) {
  winsize size{};
  if (::ioctl(::fileno(out), TIOCGWINSZ, &size) == 0 && size.ws_col > 0) return size.ws_col;
  return 80;
}

// Below one sample a second the time per sample reads better ("12.5 s/sample").
std::string sample_rate(const ProgressState& s) {
  const double rate = s.samples_per_s();
  if (s.done == s.resumed || rate <= 0) return "? samples/s";
  if (rate < 1) return fmt::format("{:.1f} s/sample", 1 / rate);
  return fmt::format("{:.2f} samples/s", rate);
}

std::string token_rate(const ProgressState& s) {
  return s.done == s.resumed ? std::string("? tok/s") : fmt::format("{:.1f} tok/s", s.tokens_per_s());
}

int percent(const ProgressState& s) {
  return s.total > 0 ? static_cast<int>(std::min<int64_t>(100, s.done * 100 / s.total)) : 100;
}

// The end of either line: the ETA while running, the elapsed time at the end.
std::string timing(const ProgressState& s) {
  return s.finished ? fmt::format("in {}", format_hms(s.elapsed_s)) : fmt::format("ETA {}", format_hms(s.eta_s()));
}

}  // namespace

std::string format_hms(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "--:--:--";
  const auto total = static_cast<int64_t>(std::llround(seconds));
  return fmt::format("{}:{:02}:{:02}", total / 3600, total / 60 % 60, total % 60);
}

double ProgressState::samples_per_s() const {
  return elapsed_s > 0 ? static_cast<double>(done - resumed) / elapsed_s : 0;
}

double ProgressState::tokens_per_s() const { return elapsed_s > 0 ? static_cast<double>(tokens) / elapsed_s : 0; }

double ProgressState::eta_s() const {
  const double rate = samples_per_s();
  return rate > 0 ? static_cast<double>(total - done) / rate : -1;
}

std::string progress_bar_line(const ProgressState& s, int width, const std::string& label) {
  const int digits = static_cast<int>(fmt::format("{}", s.total).size());
  const std::string head = fmt::format("{}  {:>{}}/{} ", label, s.done, digits, s.total);
  const std::string tail = fmt::format(" {:3}%  {}  {}  {}", percent(s), sample_rate(s), token_rate(s), timing(s));
  // One column short of the width: writing the last column makes some terminals wrap.
  const int room = width - 1 - static_cast<int>(head.size() + tail.size()) - 2;
  if (room < 10) {
    std::string line = head + tail.substr(1);
    if (static_cast<int>(line.size()) > width - 1) line.resize(static_cast<size_t>(std::max(0, width - 1)));
    return line;
  }
  const int filled = s.total > 0 ? static_cast<int>(std::min<int64_t>(s.done, s.total) * room / s.total) : room;
  return head + "[" + std::string(static_cast<size_t>(filled), '#') +
         std::string(static_cast<size_t>(room - filled), '.') + "]" + tail;
}

std::string progress_log_line(const ProgressState& s, const std::string& label) {
  if (s.finished)
    return fmt::format("{}: {}/{} ({}%) {}, {}, {}", label, s.done, s.total, percent(s), timing(s), sample_rate(s),
                       token_rate(s));
  return fmt::format("{}: {}/{} ({}%), {}, {}, {}", label, s.done, s.total, percent(s), sample_rate(s), token_rate(s),
                     timing(s));
}

Progress::Progress(int64_t total, bool enabled, std::FILE* out, ProgressOptions options, int64_t resumed)
    : out_(out), options_(std::move(options)), enabled_(enabled), total_(total), done_(resumed), resumed_(resumed) {
  if (!options_.clock) options_.clock = steady_seconds;
  if (!options_.log) options_.log = [](const std::string& line) { log::info("{}", line); };
  tty_ = options_.tty >= 0 ? options_.tty == 1 : ::isatty(::fileno(out_)) == 1;
  start_ = options_.clock();
  last_draw_ = tty_ ? -1e300 : start_;  // the log mode's first line comes after one interval
  if (enabled_ && tty_) draw(true);
}

Progress::~Progress() {
  try {
    finish();
  } catch (...) {  // a destructor must not throw; a lost progress line is no loss
  }
}

ProgressState Progress::state() const {
  return {total_, done_, resumed_, tokens_, options_.clock() - start_, finished_};
}

void Progress::advance(int64_t generated_tokens) {
  ++done_;
  tokens_ += generated_tokens;
  draw(false);
}

void Progress::clear() {
  if (!enabled_ || !tty_ || !drawn_) return;
  std::fputs("\r\033[K", out_);
  std::fflush(out_);
  drawn_ = false;
}

void Progress::finish() {
  if (finished_) return;
  finished_ = true;
  draw(true);
  if (enabled_ && tty_) {
    std::fputc('\n', out_);
    std::fflush(out_);
    drawn_ = false;
  }
}

void Progress::draw(bool force) {
  if (!enabled_) return;
  const double now = options_.clock();
  if (tty_) {
    if (!force && drawn_ && now - last_draw_ < options_.redraw_interval_s) return;
    const int width = options_.width > 0 ? options_.width : terminal_width(out_);
    // "\033[K" clears what a longer previous line left to the right.
    const std::string line = progress_bar_line(state(), width, options_.label);
    std::fprintf(out_, "\r%s\033[K", line.c_str());
    std::fflush(out_);
    drawn_ = true;
  } else {
    if (!force && now - last_draw_ < options_.log_interval_s) return;
    options_.log(progress_log_line(state(), options_.label));
  }
  last_draw_ = now;
}

}  // namespace trimvl::app::eval
