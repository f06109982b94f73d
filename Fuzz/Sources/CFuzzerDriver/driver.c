// driver.c - Empty: CFuzzerDriver only declares libFuzzer's driver entry point (see the header).
