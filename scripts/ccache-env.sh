# Sourced by build.sh and sanitize.sh: how both builds use ccache.
# Meson's precompiled LibTorch header needs these to be cached at all.
export CCACHE_SLOPPINESS=pch_defines,time_macros,include_file_mtime,include_file_ctime
# Each target's LibTorch PCH is ~0.7 GB (more with debug info): ccache's default 5 GB would evict
# the release build's objects while the sanitizer build is stored, and the next clean build misses.
export CCACHE_MAXSIZE="${CCACHE_MAXSIZE:-20G}"
