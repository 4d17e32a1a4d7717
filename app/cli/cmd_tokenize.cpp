// trimvl tokenize: text -> token ids and pieces with a model's tokenizer.json.
//
//   trimvl tokenize -m MODEL_DIR_OR_TOKENIZER_JSON [--ids-only] [--add-special] TEXT
//
// TEXT "-" reads the text from stdin (all of it, as bytes). The table on stdout has one row per
// token: its index, its id and its piece as the vocabulary spells it, quoted, with control
// characters, quotes and backslashes escaped.
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <iterator>
#include <memory>
#include <string>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "app/cli/commands.h"
#include "kernels/runtime/error.h"
#include "language/tokenizer/tokenizer.h"

namespace trimvl::cli {

namespace {

struct TokenizeOptions {
  std::string model;
  std::string text;
  bool ids_only = false;
  bool add_special = false;
};

std::string escaped_piece(std::string_view piece) {
  std::string out = "\"";
  for (const char c : piece) {
    const auto b = static_cast<unsigned char>(c);
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (b < 0x20 || b == 0x7F) out += fmt::format("\\x{:02x}", b);
        else out += c;  // pieces are valid UTF-8: printable as they are
    }
  }
  return out + "\"";
}

void run_tokenize(const TokenizeOptions& options) {
  const std::filesystem::path path(options.model);
  std::error_code ec;
  const Tokenizer tokenizer =
      std::filesystem::is_directory(path, ec) ? Tokenizer::from_dir(path) : Tokenizer::from_file(path);
  std::string text = options.text;
  if (text == "-") {
    text.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
    if (std::cin.bad()) throw Error("cannot read the text from stdin");
  }
  const std::vector<int32_t> ids = tokenizer.encode(text, options.add_special);
  std::string out;
  if (options.ids_only) {
    for (std::size_t i = 0; i < ids.size(); ++i) out += fmt::format("{}{}", i ? " " : "", ids[i]);
    out += '\n';
  } else {
    out += fmt::format("{:>6}  {:>7}  {}\n", "index", "id", "piece");
    for (std::size_t i = 0; i < ids.size(); ++i)
      out += fmt::format("{:>6}  {:>7}  {}\n", i, ids[i], escaped_piece(tokenizer.id_to_piece(ids[i])));
  }
  std::fwrite(out.data(), 1, out.size(), stdout);
}

}  // namespace

void register_tokenize(CLI::App& app) {
  auto options = std::make_shared<TokenizeOptions>();
  CLI::App* cmd = app.add_subcommand("tokenize", "Print the token ids and pieces of a text (HF tokenizer.json)");
  cmd->add_option("-m,--model", options->model, "Model directory containing tokenizer.json, or a tokenizer.json")
      ->required();
  cmd->add_option("text", options->text, "The text; - reads it from stdin")->required();
  cmd->add_flag("--ids-only", options->ids_only, "Print only the ids, on one line");
  cmd->add_flag("--add-special", options->add_special,
                "Add the special tokens of the tokenizer's post-processor (e.g. Llama-2's <s>)");
  cmd->callback([options] { run_tokenize(*options); });
}

}  // namespace trimvl::cli
