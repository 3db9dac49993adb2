# bench_peers_smoke: writes a small corpus with parse_bench --write-corpus,
# then checks that every parser program of the `./run bench` table reads it
# and ends with a RESULT line carrying the same checksum as polyws:
# parse_bench --only polyws / cjson, simdjson_peer (if built) and
# json_parse_peer.js (if node is found).
#   cmake -DPARSE_BENCH=... -DSIMDJSON_PEER=...|"" -DNODE=...|"" -DNODE_PEER=... -DCORPUS=... -P peers_smoke.cmake

function(result_checksum out_var)
  execute_process(COMMAND ${ARGN} OUTPUT_VARIABLE out RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${ARGN}: exit ${rc}\n${out}")
  endif()
  string(STRIP "${out}" out)
  string(REGEX MATCH "[^\n]*$" last "${out}")
  if(NOT last MATCHES "^RESULT {\"parser\":\"[a-z]+\",\"events\":[0-9]+,\"bytes\":[0-9]+,\"reps\":[0-9]+,\"best_s\":[0-9.e-]+,\"median_s\":[0-9.e-]+,\"worst_s\":[0-9.e-]+,\"checksum\":\"([0-9a-f]+)\"}$")
    message(FATAL_ERROR "${ARGN}: the last line is not a RESULT line: ${last}")
  endif()
  set(${out_var} ${CMAKE_MATCH_1} PARENT_SCOPE)
endfunction()

execute_process(COMMAND ${PARSE_BENCH} --events 20000 --write-corpus ${CORPUS} RESULT_VARIABLE rc OUTPUT_QUIET)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "parse_bench --write-corpus failed")
endif()
result_checksum(want ${PARSE_BENCH} --corpus ${CORPUS} --only polyws --reps 1)
result_checksum(got ${PARSE_BENCH} --corpus ${CORPUS} --only cjson --reps 1)
set(peers "cjson=${got}")
if(SIMDJSON_PEER)
  result_checksum(sj ${SIMDJSON_PEER} --corpus ${CORPUS} --reps 1)
  list(APPEND peers "simdjson=${sj}")
endif()
if(NODE)
  result_checksum(nd ${NODE} ${NODE_PEER} --corpus ${CORPUS} --reps 1)
  list(APPEND peers "node=${nd}")
endif()
foreach(p IN LISTS peers)
  string(REGEX REPLACE "^.*=" "" sum "${p}")
  if(NOT sum STREQUAL want)
    message(FATAL_ERROR "checksum of ${p} differs from polyws ${want}")
  endif()
endforeach()
message(STATUS "polyws=${want}; ${peers}")
