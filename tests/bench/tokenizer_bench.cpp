// Timing driver for tests/bench/bench_tokenizer.py: encodes a corpus with trimvl's tokenizer and
// prints one JSON line of measurements. Torch-free, so process start-up does not load LibTorch.
//
//   tokenizer_bench TOKENIZER_JSON CORPUS_JSON [--threads N] [--repeat R]
//
// CORPUS_JSON is a JSON array of strings. Each repetition encodes every string once
// (add_special_tokens false); with N > 1 the strings are shared out over N threads that use one
// Tokenizer, as a server would. The first repetition also warms the word cache, so the report
// gives it separately from the best of the rest.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "kernels/runtime/error.h"
#include "language/tokenizer/tokenizer.h"

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// Encodes all texts over `threads` threads; returns the number of tokens.
std::size_t encode_all(const trimvl::Tokenizer& tokenizer, const std::vector<std::string>& texts, int threads) {
  std::atomic<std::size_t> next{0}, tokens{0};
  auto work = [&] {
    std::size_t mine = 0;
    for (std::size_t i = next++; i < texts.size(); i = next++) mine += tokenizer.encode(texts[i]).size();
    tokens += mine;
  };
  std::vector<std::thread> pool;
  for (int t = 1; t < threads; ++t) pool.emplace_back(work);
  work();
  for (auto& t : pool) t.join();
  return tokens;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s TOKENIZER_JSON CORPUS_JSON [--threads N] [--repeat R]\n", argv[0]);
    return 2;
  }
  int threads = 1, repeat = 3;
  for (int i = 3; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--threads") threads = std::max(1, std::atoi(argv[i + 1]));
    else if (flag == "--repeat") repeat = std::max(1, std::atoi(argv[i + 1]));
    else {
      std::fprintf(stderr, "unknown option %s\n", flag.c_str());
      return 2;
    }
  }
  try {
    auto start = Clock::now();
    const trimvl::Tokenizer tokenizer = trimvl::Tokenizer::from_file(argv[1]);
    const double load = seconds_since(start);

    std::ifstream in(argv[2], std::ios::binary);
    std::ostringstream text;
    text << in.rdbuf();
    const auto texts = nlohmann::json::parse(text.str()).get<std::vector<std::string>>();
    std::size_t bytes = 0;
    for (const auto& t : texts) bytes += t.size();

    std::vector<double> times;
    std::size_t tokens = 0;
    for (int r = 0; r < repeat; ++r) {
      start = Clock::now();
      tokens = encode_all(tokenizer, texts, threads);
      times.push_back(seconds_since(start));
    }
    const double cold = times.front();
    const double best = repeat > 1 ? *std::min_element(times.begin() + 1, times.end()) : cold;
    std::printf("%s\n", nlohmann::json{{"load_s", load}, {"bytes", bytes}, {"tokens", tokens}, {"threads", threads},
                                       {"first_s", cold}, {"best_s", best}}.dump().c_str());
  } catch (const trimvl::Error& e) {
    std::fprintf(stderr, "tokenizer_bench: %s\n", e.what());
    return 1;
  }
  return 0;
}
