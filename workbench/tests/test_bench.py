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

    def test_ratio_spread_pairs_boots(self):
        num = [({"a": (0, 20, 0)}, {}, []), ({"a": (0, 30, 0)}, {}, []), ({"a": (0, 12, 0)}, {}, [])]
        den = [({"b": (0, 10, 0)}, {}, []), ({"b": (0, 10, 0)}, {}, []), ({"b": (0, 10, 0)}, {}, [])]
        self.assertEqual((2.0, 1.2, 3.0), bench.ratio_spread(num, den, "a", "b"))
        self.assertIsNone(bench.ratio_spread(num, den, "a", "missing"))

    def test_fmt_ratio_says_what_the_spread_covers(self):
        self.assertEqual("1.05 (0.90-1.30) 1.0 inside the spread", bench.fmt_ratio((1.05, 0.9, 1.3)))
        self.assertEqual("2.50 (2.10-2.90); target 1.2: missed", bench.fmt_ratio((2.5, 2.1, 2.9), 1.2))
        self.assertEqual("1.25 (1.10-1.40); target 1.2: inside the spread",
                         bench.fmt_ratio((1.25, 1.1, 1.4), 1.2))
        self.assertEqual("1.10 (1.05-1.15); target 1.2: met", bench.fmt_ratio((1.1, 1.05, 1.15), 1.2))
