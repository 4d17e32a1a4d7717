#include "language/tokenizer/onig_compat.h"

#include <array>
#include <utility>

#include "language/tokenizer/unicode_additions.h"

namespace trimvl::tok {

namespace {

// Unicode White_Space, as PCRE2 class content.
constexpr std::string_view kWhiteSpace =
    "\\t\\n\\x0B\\f\\r\\x20\\x{85}\\x{A0}\\x{1680}\\x{2000}-\\x{200A}\\x{2028}\\x{2029}\\x{202F}\\x{205F}\\x{3000}";

// Long names of the general categories (Unicode PropertyValueAliases.txt).
constexpr std::array<std::pair<std::string_view, std::string_view>, 37> kLongNames = {{
    {"other", "C"}, {"control", "Cc"}, {"format", "Cf"}, {"unassigned", "Cn"}, {"privateuse", "Co"},
    {"surrogate", "Cs"}, {"letter", "L"}, {"lowercaseletter", "Ll"}, {"modifierletter", "Lm"},
    {"otherletter", "Lo"}, {"titlecaseletter", "Lt"}, {"uppercaseletter", "Lu"}, {"mark", "M"},
    {"spacingmark", "Mc"}, {"enclosingmark", "Me"}, {"nonspacingmark", "Mn"}, {"number", "N"},
    {"decimalnumber", "Nd"}, {"letternumber", "Nl"}, {"othernumber", "No"}, {"punctuation", "P"},
    {"connectorpunctuation", "Pc"}, {"dashpunctuation", "Pd"}, {"closepunctuation", "Pe"},
    {"finalpunctuation", "Pf"}, {"initialpunctuation", "Pi"}, {"otherpunctuation", "Po"},
    {"openpunctuation", "Ps"}, {"symbol", "S"}, {"currencysymbol", "Sc"}, {"modifiersymbol", "Sk"},
    {"mathsymbol", "Sm"}, {"othersymbol", "So"}, {"separator", "Z"}, {"lineseparator", "Zl"},
    {"paragraphseparator", "Zp"}, {"spaceseparator", "Zs"},
}};

std::string loose(std::string_view name) {
  std::string out;
  for (const char c : name) {
    if (c == '_' || c == '-' || c == ' ') continue;
    out += static_cast<char>(c >= 'A' && c <= 'Z' ? c + 32 : c);
  }
  return out;
}

// The general category a property name means to Oniguruma, or null for any other property.
const unicode_additions::Category* general_category(std::string_view name) {
  const std::string key = loose(name);
  std::string_view short_name;
  for (const auto& [long_name, abbreviation] : kLongNames)
    if (key == long_name) short_name = abbreviation;
  for (const auto& category : unicode_additions::kCategories)
    if (short_name.empty() ? key == loose(category.name) : category.name == short_name) return &category;
  return nullptr;
}

// The rewrite of \p{name} (negated: \P{name} or \p{^name}), or nothing to keep it as written.
std::string category_set(const unicode_additions::Category& c, bool negated, bool in_class) {
  const std::string property = std::string(negated ? "\\P{" : "\\p{") + std::string(c.name) + "}";
  // Oniguruma's set: (PCRE2's | added) - removed; negated: (PCRE2's complement | removed) - added.
  const std::string_view widen = negated ? c.removed : c.added;
  const std::string_view narrow = negated ? c.added : c.removed;
  if (widen.empty() && narrow.empty()) return property;
  if (in_class) return narrow.empty() ? property + std::string(widen) : std::string();
  std::string out = "(?:";
  if (!narrow.empty()) out += "(?![" + std::string(narrow) + "])";
  out += "[" + property + std::string(widen) + "])";
  return out;
}

}  // namespace

std::string onig_compatible(std::string_view p) {
  std::string out;
  out.reserve(p.size() * 2);
  bool in_class = false;
  std::size_t i = 0;
  while (i < p.size()) {
    const char c = p[i];
    if (c == '\\' && i + 1 < p.size()) {
      const char e = p[i + 1];
      if (e == 'Q') {  // \Q...\E quotes literally
        const std::size_t end = p.find("\\E", i + 2);
        const std::size_t stop = end == std::string_view::npos ? p.size() : end + 2;
        out += p.substr(i, stop - i);
        i = stop;
        continue;
      }
      if (e == 's' || e == 'S') {
        if (!in_class) out += e == 's' ? "[" : "[^";
        if (in_class && e == 'S') out += "\\S";
        else out += kWhiteSpace;
        if (!in_class) out += ']';
        i += 2;
        continue;
      }
      if (e == 'p' || e == 'P') {
        if (i + 2 >= p.size() || p[i + 2] != '{') {  // Oniguruma: \pL is "pL"
          out += e;
          i += 2;
          continue;
        }
        const std::size_t close = p.find('}', i + 3);
        if (close == std::string_view::npos) {  // malformed: PCRE2 will say so
          out += p.substr(i);
          break;
        }
        std::string_view name = p.substr(i + 3, close - i - 3);
        bool negated = e == 'P';
        if (name.starts_with('^')) {
          negated = !negated;
          name.remove_prefix(1);
        }
        const unicode_additions::Category* category = general_category(name);
        const std::string rewritten = category ? category_set(*category, negated, in_class) : std::string();
        if (rewritten.empty()) out += p.substr(i, close + 1 - i);
        else out += rewritten;
        i = close + 1;
        continue;
      }
      out += p.substr(i, 2);  // any other escape, \\ \[ \] included
      i += 2;
      continue;
    }
    if (!in_class && c == '[') {
      in_class = true;
      out += c;
      ++i;
      if (i < p.size() && p[i] == '^') out += p[i++];
      if (i < p.size() && p[i] == ']') out += p[i++];  // a leading ] is a member
      continue;
    }
    if (in_class && c == '[' && i + 1 < p.size() && p[i + 1] == ':') {  // [:alpha:]
      const std::size_t end = p.find(":]", i + 2);
      const std::size_t stop = end == std::string_view::npos ? i + 1 : end + 2;
      out += p.substr(i, stop - i);
      i = stop;
      continue;
    }
    if (in_class && c == ']') in_class = false;
    out += c;
    ++i;
  }
  return out;
}

}  // namespace trimvl::tok
