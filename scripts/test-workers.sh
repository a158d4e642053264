#!/usr/bin/env sh
# How many pytest-xdist workers the test commands start: TEST_WORKERS if set, otherwise
# three for every two cores. Tests spend part of their time waiting (on servers starting,
# subprocesses, the browser, the real clock), so one worker per core leaves the cores
# idle about a third of the time; two per core kept them busier but spent more CPU on
# each worker's own start-up and on contention. Measured on two cores, the whole suite:
# 419 s with four workers, 393 s with three.
cores=$(nproc)
echo "${TEST_WORKERS:-$(( cores * 3 / 2 > 0 ? cores * 3 / 2 : 1 ))}"
