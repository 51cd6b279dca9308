// Comparing trained models and reading their loss logs, for the trainer's command-line tests.
#pragma once

#include "tests/trainer/trainer-helpers.h"
#include "trainer/report/report.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <fstream>
#include <string>
#include <vector>

namespace cg::test {

// Parameters and buffers (batch-norm running statistics) alike, bit for bit.
inline void expect_identical(torch::nn::Module& a, torch::nn::Module& b, const std::string& what) {
  const auto pa = a.named_parameters(), pb = b.named_parameters();
  ASSERT_EQ(pa.size(), pb.size()) << what;
  for (const auto& item : pa) EXPECT_TRUE(item.value().equal(pb[item.key()])) << what << " " << item.key();
  const auto ba = a.named_buffers(), bb = b.named_buffers();
  ASSERT_EQ(ba.size(), bb.size()) << what;
  for (const auto& item : ba) EXPECT_TRUE(item.value().equal(bb[item.key()])) << what << " " << item.key();
}

// The rows of DIR/loss_log.csv, whose loss columns are `names`.
inline std::vector<LossRow> log_rows(const std::string& dir, const std::vector<std::string>& names) {
  const TempDir scratch;  // a LossLog of these columns, to parse with
  const LossLog format(scratch.path.string(), names, "", false, 0);
  std::ifstream in(dir + "/loss_log.csv");
  std::string line;
  std::getline(in, line);
  EXPECT_EQ(line, format.header());
  std::vector<LossRow> rows;
  while (std::getline(in, line)) rows.push_back(format.parse(line));
  return rows;
}

}  // namespace cg::test
