#pragma once
// HF tokenizers runs its patterns on Oniguruma; trimvl on PCRE2. The syntax tokenizer patterns use
// is common to both, but character sets differ, and this rewrites a pattern so PCRE2 matches what
// Oniguruma matches:
//  - general categories (\p{L}, \p{Lu}, \P{N}, \p{^P}, ...): Oniguruma in tokenizers 0.22.2 knows
//    Unicode 16, Debian 12's PCRE2 Unicode 14; unicode_additions.h lists the code points each
//    category gained or lost since, and the rewrite adds or excludes them;
//  - \s and \S: Oniguruma uses Unicode White_Space, PCRE2 also counts U+180E MONGOLIAN VOWEL
//    SEPARATOR; \s is spelled out as White_Space;
//  - names as Oniguruma reads them: case and "_- " ignored, long names (\p{Letter},
//    \p{Uppercase_Letter}) accepted; \pL without braces is the two letters "pL".
// Everything else is copied. Inside a character class a set can only be widened, so a category
// that lost code points (or, negated, gained some) and \S stay as PCRE2 reads them there; no
// tokenizer.json we know of writes those. \w, \d and scripts are not adjusted.
#include <string>
#include <string_view>

namespace trimvl::tok {

std::string onig_compatible(std::string_view pattern);

}  // namespace trimvl::tok
