import unittest

from workbench import profile


class Profile(unittest.TestCase):
    def test_parse_sums_the_cpus(self):
        out = ("PROF 02:00.0 iommu_map 30 600000\nPROF 02:00.0 iommu_map 30 400000\n"
               "PROF 03:00.0 __x64_sys_ioctl 60 3000000\nnoise\nPROF short line\n")
        prof = profile.parse(out)
        self.assertEqual([60, 1000000], prof["02:00.0"]["iommu_map"])
        self.assertEqual([60, 3000000], prof["03:00.0"]["__x64_sys_ioctl"])
        self.assertEqual({"02:00.0", "03:00.0"}, set(prof))

    def test_claim_time_is_the_roots_per_claim(self):
        funcs = {"__x64_sys_ioctl": [60, 3000000], "__fput": [60, 1500000],
                 "iommu_map": [30, 999999]}         # inside the ioctl: not added
        self.assertEqual(4500000 / profile.CLAIMS, profile.claim_ns(funcs))
