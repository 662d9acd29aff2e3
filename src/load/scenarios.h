// parley-load's scenarios; each returns the process exit code (0: ok, 1: the
// run saw loss, failures or errors) and prints a table or --json.
#pragma once

#include "load/options.h"

namespace parley::load {

int RunIdle(const Options& o);     // scenario_idle.cc
int RunFanout(const Options& o);   // scenario_fanout.cc
int RunStorm(const Options& o);    // scenario_storm.cc
int RunWrites(const Options& o);   // scenario_writes.cc
int RunHistory(const Options& o);  // scenario_history.cc

}  // namespace parley::load
