// Command hello stands in for the preflight binary in ociimage's tests.
package main

func main() { println("hello") }
