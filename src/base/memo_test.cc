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

TEST(MemoTest, ValuesWithACostAreBoundedByTheirTotal) {
  Memo<int> memo(10);
  memo.Put("a", 1, 6);
  memo.Put("a", 2, 6);  // replaced, not counted twice
  EXPECT_EQ(memo.Find("a"), 2);
  memo.Put("b", 3, 4);
  EXPECT_EQ(memo.Find("a"), 2);
  EXPECT_EQ(memo.Find("b"), 3);
  memo.Put("c", 4, 1);  // 11 > 10: starts over
  EXPECT_FALSE(memo.Find("a").has_value());
  EXPECT_EQ(memo.Find("c"), 4);
  memo.Put("huge", 5, 11);  // more than the capacity: not kept
  EXPECT_FALSE(memo.Find("huge").has_value());
  EXPECT_EQ(memo.Find("c"), 4);
  memo.Clear();
  EXPECT_FALSE(memo.Find("c").has_value());
}

}  // namespace
}  // namespace pg2iceberg
