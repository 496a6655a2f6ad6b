// A reference parser for the text tree's values, written independently of
// src/fs/parse.cpp, and a key lookup in "key value" files.
#pragma once

#include <optional>
#include <string>

#include "ops/common.hpp"

namespace ops_fuzz {

/// "max" or bytes with an optional K/M/G/T suffix, surrounding white space
/// allowed; false for anything else (or an overflow).
bool ref_parse(const std::string& text, u64& out);
/// What a limit file reads for v: "max\n" when unlimited, else the number.
std::string ref_limit_text(u64 v);
/// The value of key in a "key value" per line text; nullopt if absent.
std::optional<u64> field(const std::string& text, const std::string& key);

}  // namespace ops_fuzz
