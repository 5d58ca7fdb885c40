#include "base/log.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace pg2iceberg::log {
namespace {

class LogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    SetSinkForTest([this](std::string_view line) { lines_.emplace_back(line); });
  }
  void TearDown() override {
    SetSinkForTest(nullptr);
    Init(Level::kInfo, Format::kText);
  }
  std::vector<std::string> lines_;
};

TEST_F(LogTest, TextFormatHasFields) {
  Init(Level::kInfo, Format::kText);
  Info("flushed", {{"table", "public.orders"}, {"rows", 10}, {"lsn", Lsn(0x16)}});
  ASSERT_EQ(lines_.size(), 1u);
  EXPECT_NE(lines_[0].find(" INFO flushed table=public.orders rows=10 lsn=0/16"),
            std::string::npos)
      << lines_[0];
}

TEST_F(LogTest, TextQuotesValuesWithSpaces) {
  EXPECT_EQ(FormatLine(Format::kText, Level::kWarn, "T", "m", {{"k", "a b"}, {"e", ""}}),
            "T WARN m k=\"a b\" e=\"\"");
}

TEST_F(LogTest, JsonFormatIsOneObjectPerLine) {
  Init(Level::kDebug, Format::kJson);
  Debug("materialized", {{"table", "t\"q"}, {"snapshot_id", int64_t{123}}});
  ASSERT_EQ(lines_.size(), 1u);
  auto j = nlohmann::json::parse(lines_[0]);
  EXPECT_EQ(j["level"], "debug");
  EXPECT_EQ(j["msg"], "materialized");
  EXPECT_EQ(j["table"], "t\"q");
  EXPECT_EQ(j["snapshot_id"], "123");
  EXPECT_TRUE(j.contains("ts"));
}

TEST_F(LogTest, LevelFilters) {
  Init(Level::kWarn, Format::kText);
  Debug("d");
  Info("i");
  Warn("w");
  Error("e");
  ASSERT_EQ(lines_.size(), 2u);
  EXPECT_NE(lines_[0].find("WARN w"), std::string::npos);
  EXPECT_NE(lines_[1].find("ERROR e"), std::string::npos);
}

TEST(LogParseTest, LevelsAndFormats) {
  EXPECT_EQ(*ParseLevel("debug"), Level::kDebug);
  EXPECT_EQ(*ParseLevel("error"), Level::kError);
  auto bad = ParseLevel("verbose");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("allowed: debug, info, warn, error"), std::string::npos);
  EXPECT_EQ(*ParseFormat("json"), Format::kJson);
  EXPECT_EQ(*ParseFormat("text"), Format::kText);
  EXPECT_FALSE(ParseFormat("xml").ok());
}

}  // namespace
}  // namespace pg2iceberg::log
