// Plain-text tables and human-readable quantities for the CLI's listings.
#pragma once

#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

namespace grokjit::cli {

// Columns sized to their widest cell, separated by two spaces; a column
// whose header starts with '<' is left-aligned (the '<' is not printed),
// every other column is right-aligned (numbers).
class TextTable {
 public:
  explicit TextTable(std::vector<std::string> headers) {
    for (std::string& h : headers) {
      bool left = !h.empty() && h[0] == '<';
      left_.push_back(left);
      headers_.push_back(left ? h.substr(1) : h);
    }
  }
  void add(std::vector<std::string> row) {
    row.resize(headers_.size());
    rows_.push_back(std::move(row));
  }
  std::string str(const std::string& indent = "") const {
    std::vector<size_t> w(headers_.size());
    for (size_t c = 0; c < headers_.size(); ++c) {
      w[c] = headers_[c].size();
      for (const auto& r : rows_) w[c] = std::max(w[c], r[c].size());
    }
    std::string out;
    auto line = [&](const std::vector<std::string>& cells) {
      std::string l = indent;
      for (size_t c = 0; c < cells.size(); ++c) {
        std::string pad(w[c] - cells[c].size(), ' ');
        if (c) l += "  ";
        l += left_[c] ? cells[c] + (c + 1 == cells.size() ? "" : pad) : pad + cells[c];
      }
      out += l + "\n";
    };
    line(headers_);
    for (const auto& r : rows_) line(r);
    return out;
  }

 private:
  std::vector<std::string> headers_;
  std::vector<bool> left_;
  std::vector<std::vector<std::string>> rows_;
};

inline std::string format(const char* fmt, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, fmt, v);
  return buf;
}

// 1234567 -> "1.23 M" (SI prefixes; `unit` appended: "B", "FLOP", "").
inline std::string human(double v, const std::string& unit = "") {
  const char* prefixes[] = {"", "k", "M", "G", "T"};
  int p = 0;
  while (v >= 999.5 && p < 4) {
    v /= 1000;
    ++p;
  }
  std::string num = p == 0 ? format("%.0f", v) : format(v < 9.995 ? "%.2f" : v < 99.95 ? "%.1f" : "%.0f", v);
  std::string suffix = std::string(prefixes[p]) + unit;
  return suffix.empty() ? num : num + " " + suffix;
}

}  // namespace grokjit::cli
