// CFuzzerDriver.h - libFuzzer's driver entry point, which the fuzz targets' main calls.
#include <stddef.h>
#include <stdint.h>

/// Parses libFuzzer's command line and fuzzes `callback` (defined in libFuzzer, linked in by
/// -sanitize=fuzzer). SwiftPM gives every executable its own entry point, so the targets call
/// this instead of relying on libFuzzer's main().
int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*callback)(const uint8_t *data, size_t size));
