# uPlot (MIT), the charts of report.html: the npm package that
# scripts/setup.sh fetches with `npm pack` (never copied into git), checked
# against its pinned SHA-256 and unpacked into the build tree. Sets
# BNLAB_UPLOT_JS, BNLAB_UPLOT_CSS and BNLAB_UPLOT_LICENSE.
set(BNLAB_UPLOT_VERSION 1.6.32)
set(BNLAB_UPLOT_SHA256 4b8a8191e425658e3ea8c8c1314b0fc679c861ee3a1af2b20c7b16ba50b5133d)
set(BNLAB_NPM_DIR "${CMAKE_SOURCE_DIR}/third_party/npm" CACHE PATH "Where scripts/setup.sh puts npm packages")
set(tarball "${BNLAB_NPM_DIR}/uplot-${BNLAB_UPLOT_VERSION}.tgz")
if(NOT EXISTS "${tarball}")
  message(FATAL_ERROR "bnlab: ${tarball} not found (uPlot, for report.html).\n"
          "  run scripts/setup.sh, or: npm pack uplot@${BNLAB_UPLOT_VERSION} --pack-destination ${BNLAB_NPM_DIR}")
endif()
file(SHA256 "${tarball}" found)
if(NOT found STREQUAL BNLAB_UPLOT_SHA256)
  message(FATAL_ERROR "bnlab: ${tarball}: SHA-256 ${found}, expected ${BNLAB_UPLOT_SHA256}; delete it and rerun scripts/setup.sh")
endif()
set(unpacked "${CMAKE_BINARY_DIR}/npm/uplot-${BNLAB_UPLOT_VERSION}")
if(NOT EXISTS "${unpacked}/package/dist/uPlot.iife.min.js")
  file(ARCHIVE_EXTRACT INPUT "${tarball}" DESTINATION "${unpacked}")
endif()
set(BNLAB_UPLOT_JS "${unpacked}/package/dist/uPlot.iife.min.js")
set(BNLAB_UPLOT_CSS "${unpacked}/package/dist/uPlot.min.css")
set(BNLAB_UPLOT_LICENSE "${unpacked}/package/LICENSE")
