"""Tests of spacetime.video."""
