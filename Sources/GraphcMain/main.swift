// main.swift - The `graphc` executable: the command-line library with the built-in passes.
import GraphcCLI
runGraphcCLI()
