// libdeflate (Debian libdeflate-dev), for its CRC-32: carry-less-multiply folding, several times
// zlib's speed, and the checksum that bounds how fast a .gcb loads (Docs/Benchmarks.md).
#include <libdeflate.h>
