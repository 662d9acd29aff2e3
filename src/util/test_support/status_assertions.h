// gtest assertions on Status-returning calls, with the status in the
// failure message. For tests only.
#pragma once

#include <gtest/gtest.h>

#include "util/status.h"

#define ASSERT_OK(expr)                                  \
  do {                                                   \
    const ::parley::Status _s = (expr);                  \
    ASSERT_TRUE(_s.ok()) << #expr ": " << _s.ToString(); \
  } while (0)
#define EXPECT_OK(expr)                                  \
  do {                                                   \
    const ::parley::Status _s = (expr);                  \
    EXPECT_TRUE(_s.ok()) << #expr ": " << _s.ToString(); \
  } while (0)
