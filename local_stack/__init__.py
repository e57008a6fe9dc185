"""The embedded local stack: moto's server for AWS and a CERS stand-in, both on 127.0.0.1."""
