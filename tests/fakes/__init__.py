"""Fake sysfs/procfs trees and test doubles shared by the tests."""
