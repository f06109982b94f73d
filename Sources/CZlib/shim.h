// zlib (Debian zlib1g-dev), for the raw-deflate entries of .npz calibration files.
#include <zlib.h>
