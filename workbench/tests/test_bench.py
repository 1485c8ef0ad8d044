import unittest

from workbench import bench


class Bench(unittest.TestCase):
    def test_min_entries_uses_the_largest_aligned_pages(self):
        self.assertEqual(1, bench.min_entries(0x3e500000, 0x3e500fff))
        self.assertEqual(32, bench.min_entries(0x30000000, 0x33ffffff))     # 64 MiB, 2 MiB aligned
        self.assertEqual(1, bench.min_entries(0x40000000, 0x7fffffff))      # 1 GiB, 1 GiB aligned
        # 4 KiB-aligned only: 4 KiB pages up to the next 2 MiB boundary
        self.assertEqual(511 + 1, bench.min_entries(0x30001000, 0x303fffff))

    def test_parse(self):
        out = "BENCH claim_attach.01:00.0 30 10 20 30\nBENCH refused.01:00.0 -22\n" \
              "PTES 0000:01:00.0 0x30000000 0x33ffffff 16384\nnoise\n"
        times, notes, ptes = bench.parse(out)
        self.assertEqual((10, 20, 30), times["claim_attach.01:00.0"])
        self.assertEqual("-22", notes["refused.01:00.0"])
        self.assertEqual([("0000:01:00.0", 0x30000000, 0x33ffffff, 16384)], ptes)

    def test_combine_takes_the_median_of_boot_medians(self):
        boots = [({"m": (1, 5, 9)}, {}, []), ({"m": (1, 8, 9)}, {}, []), ({"m": (1, 6, 9)}, {}, [])]
        times, _, _ = bench.combine(boots)
        self.assertEqual((5, 6, 8), times["m"])
