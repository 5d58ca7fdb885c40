#include "base/memo.h"

#include <string>

#include <gtest/gtest.h>

namespace pg2iceberg {
namespace {

TEST(MemoTest, FindsWhatWasPutAndStartsOverWhenFull) {
  Memo<int> memo(2);
  EXPECT_FALSE(memo.Find("a").has_value());
  memo.Put("a", 1);
  memo.Put("b", 2);
  EXPECT_EQ(memo.Find("a"), 1);
  EXPECT_EQ(memo.Find("b"), 2);
  memo.Put("c", 3);  // full: the earlier values go
  EXPECT_FALSE(memo.Find("a").has_value());
  EXPECT_EQ(memo.Find("c"), 3);
  memo.Put("c", 4);
  EXPECT_EQ(memo.Find("c"), 4);
}

}  // namespace
}  // namespace pg2iceberg
