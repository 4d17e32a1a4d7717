#include "language/tokenizer/bpe.h"

#include <algorithm>
#include <limits>

#include "language/tokenizer/utf8.h"

namespace trimvl::tok {

namespace {

constexpr int64_t kMaxId = std::numeric_limits<int32_t>::max() / 2;
constexpr std::string_view kMetaspace = "\xE2\x96\x81";  // U+2581 '▁'


}  // namespace

Bpe::Bpe(const ConfigNode& model) : file_(model.file()) {
  if (const auto dropout = model.find("dropout")) {
    if (!dropout->json().is_number()) dropout->fail("expected a number");
    if (dropout->json().get<double>() != 0.0) dropout->unsupported("BPE dropout is not supported (it makes encoding random)");
  }
  unk_token_ = model.optional_string("unk_token");
  prefix_ = model.optional_string("continuing_subword_prefix").value_or("");
  suffix_ = model.optional_string("end_of_word_suffix").value_or("");
  fuse_unk_ = model.boolean("fuse_unk", false);
  byte_fallback_ = model.boolean("byte_fallback", false);
  ignore_merges_ = model.boolean("ignore_merges", false);
  read_vocab(model.at("vocab"));
  read_merges(model.at("merges"));
  // Llama-2-style files have no pre-tokenizer: BPE sees whole sentences ("▁The▁cat..."), which
  // never hit the word cache and make the merge heap large. When no token holds "▁" right after
  // another character, no merge can join across such a point, and merges on either side never
  // interact, so cutting there gives the same ids. Affixes and ignore_merges depend on where a
  // word starts and ends, and an unknown "▁" would fuse with its neighbours: those keep words whole.
  split_at_metaspace_ = prefix_.empty() && suffix_.empty() && !ignore_merges_ && id_of(kMetaspace).has_value() &&
                        std::none_of(vocab_.begin(), vocab_.end(), [](const auto& entry) {
                          const std::string& token = entry.first;
                          for (std::size_t at = token.find(kMetaspace, 1); at != std::string::npos;
                               at = token.find(kMetaspace, at + 1))
                            if (!std::string_view(token).substr(0, at).ends_with(kMetaspace)) return true;
                          return false;
                        });
}

void Bpe::read_vocab(const ConfigNode& vocab) {
  if (!vocab.json().is_object()) vocab.fail(fmt::format("expected an object, got {}", vocab.json().type_name()));
  vocab_.reserve(vocab.json().size());
  int64_t max_id = -1;
  for (const auto& [token, value] : vocab.json().items()) {
    if (!value.is_number_integer() || value.get<int64_t>() < 0 || value.get<int64_t>() > kMaxId)
      vocab.fail(fmt::format("token '{}' has id {}; expected an integer in [0, {}]", token, value.dump(), kMaxId));
    const auto id = static_cast<int32_t>(value.get<int64_t>());
    vocab_.emplace(token, id);
    max_id = std::max<int64_t>(max_id, id);
  }
  // Ids index a table, so they must be dense enough for it (real vocabularies have no gaps).
  if (max_id >= 2 * static_cast<int64_t>(vocab_.size()) + 1024)
    vocab.fail(fmt::format("ids are too sparse: the largest is {} for {} tokens", max_id, vocab_.size()));
  tokens_.assign(static_cast<std::size_t>(max_id + 1), std::string());
  has_id_.assign(tokens_.size(), false);
  for (const auto& [token, id] : vocab_) {
    tokens_[id] = token;
    has_id_[id] = true;
    std::size_t i = 0;
    const char32_t first = utf8::next(token, i);
    if (i == token.size()) char_ids_.emplace(first, id);
  }
  // byte_fallback looks up exactly this spelling, as HF does.
  for (unsigned byte = 0; byte < 256; ++byte) byte_ids_[byte] = id_of(fmt::format("<0x{:02X}>", byte)).value_or(-1);
  if (unk_token_) unk_id_ = id_of(*unk_token_);
}

void Bpe::read_merges(const ConfigNode& merges) {
  const std::vector<ConfigNode> entries = merges.elements();
  merges_ = MergeTable(entries.size());
  for (std::size_t rank = 0; rank < entries.size(); ++rank) {
    const ConfigNode& entry = entries[rank];
    std::string left, right;
    if (entry.json().is_string()) {
      const std::string line = entry.as_string();
      const std::size_t space = line.find(' ');
      if (space == std::string::npos || line.find(' ', space + 1) != std::string::npos)
        entry.fail(fmt::format("expected \"left right\" (two tokens separated by one space), got \"{}\"", line));
      left = line.substr(0, space);
      right = line.substr(space + 1);
    } else {
      const std::vector<ConfigNode> pair = entry.elements();
      if (pair.size() != 2) entry.fail(fmt::format("expected a pair of tokens, got {} elements", pair.size()));
      left = pair[0].as_string();
      right = pair[1].as_string();
    }
    const auto left_id = id_of(left), right_id = id_of(right);
    if (!left_id || !right_id)
      entry.fail(fmt::format("merge '{} {}' references '{}', which is not in the vocabulary", left, right,
                             left_id ? right : left));
    if (right.size() < prefix_.size())
      entry.fail(fmt::format("merge '{} {}': '{}' is shorter than continuing_subword_prefix '{}'", left, right, right,
                             prefix_));
    const std::string merged = left + right.substr(prefix_.size());
    const auto merged_id = id_of(merged);
    if (!merged_id)
      entry.fail(fmt::format("merge '{} {}' produces '{}', which is not in the vocabulary", left, right, merged));
    // A repeated pair takes its last rank, as HF's map construction does.
    merges_.set(*left_id, *right_id, {static_cast<uint32_t>(rank), *merged_id});
  }
}

std::optional<int32_t> Bpe::id_of(std::string_view token) const {
  const auto it = vocab_.find(token);
  if (it == vocab_.end()) return std::nullopt;
  return it->second;
}

const std::string* Bpe::token_of(int32_t id) const {
  if (id < 0 || static_cast<std::size_t>(id) >= tokens_.size() || !has_id_[id]) return nullptr;
  return &tokens_[id];
}

int32_t Bpe::unk_id() const {
  if (!unk_id_)
    throw Error(fmt::format("model.unk_token '{}' is not in the vocabulary, but the input needs it", *unk_token_))
        .file(file_);
  return *unk_id_;
}

void Bpe::split_characters(std::string_view word, std::vector<int32_t>& ids) const {
  const bool affixes = !prefix_.empty() || !suffix_.empty();
  std::string symbol;
  int32_t pending_unk = -1;  // an unknown run waiting to be emitted (fused when fuse_unk)
  std::size_t i = 0;
  while (i < word.size()) {
    const std::size_t start = i;
    const char32_t cp = utf8::next(word, i);
    std::optional<int32_t> id;
    if (!affixes) {
      const auto it = char_ids_.find(cp);
      if (it != char_ids_.end()) id = it->second;
      else symbol.assign(word.substr(start, i - start));
    } else {
      symbol.clear();
      if (start > 0) symbol += prefix_;
      symbol += word.substr(start, i - start);
      if (i == word.size()) symbol += suffix_;
      id = id_of(symbol);
    }
    if (id) {
      if (pending_unk >= 0) ids.push_back(pending_unk);
      pending_unk = -1;
      ids.push_back(*id);
      continue;
    }
    if (byte_fallback_ && std::all_of(symbol.begin(), symbol.end(),
                                      [&](char c) { return byte_ids_[static_cast<unsigned char>(c)] >= 0; })) {
      // HF leaves a pending unknown where it is, so it lands after these bytes.
      for (const char c : symbol) ids.push_back(byte_ids_[static_cast<unsigned char>(c)]);
      continue;
    }
    if (!unk_token_) continue;  // HF drops the character
    if (pending_unk >= 0 && !fuse_unk_) ids.push_back(pending_unk);
    pending_unk = unk_id();
  }
  if (pending_unk >= 0) ids.push_back(pending_unk);
}

void Bpe::merge(std::vector<int32_t>& symbols) const {
  if (symbols.size() < 2) return;
  // A doubly linked list over the symbols and a min-heap of candidate merges keyed by
  // (rank, position). Entries go stale when a neighbour merges first; they are recognised by
  // re-checking the pair against the merge table when popped.
  struct Node {
    int32_t id;
    int32_t prev, next;
    bool alive;
  };
  struct Candidate {
    uint32_t rank;
    uint32_t pos;
    int32_t merged;
    bool operator>(const Candidate& o) const { return rank != o.rank ? rank > o.rank : pos > o.pos; }
  };
  const auto n = static_cast<int32_t>(symbols.size());
  std::vector<Node> nodes(symbols.size());
  for (int32_t k = 0; k < n; ++k) nodes[k] = {symbols[k], k - 1, k + 1 < n ? k + 1 : -1, true};
  std::vector<Candidate> heap;
  heap.reserve(symbols.size());
  const auto push = [&](int32_t pos) {
    const int32_t next = nodes[pos].next;
    if (next < 0) return;
    const MergeTable::Merge* merge = merges_.find(nodes[pos].id, nodes[next].id);
    if (merge == nullptr) return;
    heap.push_back({merge->rank, static_cast<uint32_t>(pos), merge->id});
    std::push_heap(heap.begin(), heap.end(), std::greater<>{});
  };
  for (int32_t k = 0; k + 1 < n; ++k) push(k);
  while (!heap.empty()) {
    std::pop_heap(heap.begin(), heap.end(), std::greater<>{});
    const Candidate top = heap.back();
    heap.pop_back();
    Node& left = nodes[top.pos];
    if (!left.alive || left.next < 0) continue;
    Node& right = nodes[left.next];
    const MergeTable::Merge* merge = merges_.find(left.id, right.id);
    if (merge == nullptr || merge->id != top.merged) continue;
    left.id = top.merged;
    right.alive = false;
    left.next = right.next;
    if (right.next >= 0) nodes[right.next].prev = static_cast<int32_t>(top.pos);
    if (left.prev >= 0) push(left.prev);
    push(static_cast<int32_t>(top.pos));
  }
  symbols.clear();
  for (int32_t k = 0; k >= 0; k = nodes[k].next) symbols.push_back(nodes[k].id);
}

void Bpe::tokenize(std::string_view word, std::vector<int32_t>& ids) const {
  if (word.empty()) return;
  if (!split_at_metaspace_) {
    tokenize_word(word, ids);
    return;
  }
  std::size_t start = 0;
  for (std::size_t at = word.find(kMetaspace, 1); at != std::string_view::npos;
       at = word.find(kMetaspace, at + kMetaspace.size())) {
    if (word.substr(0, at).ends_with(kMetaspace)) continue;  // inside a run of "▁"
    tokenize_word(word.substr(start, at - start), ids);
    start = at;
  }
  tokenize_word(word.substr(start), ids);
}

void Bpe::tokenize_word(std::string_view word, std::vector<int32_t>& ids) const {
  if (ignore_merges_) {
    if (const auto id = id_of(word)) {
      ids.push_back(*id);
      return;
    }
  }
  if (cache_.lookup(word, ids)) return;
  const std::size_t first = ids.size();
  std::vector<int32_t> symbols;
  split_characters(word, symbols);
  merge(symbols);
  ids.insert(ids.end(), symbols.begin(), symbols.end());
  cache_.insert(word, ids.data() + first, ids.size() - first);
}

}  // namespace trimvl::tok
