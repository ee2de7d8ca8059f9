"""The benchmark metrics on predictions whose values are known by construction."""
import unittest

import numpy as np

from trans3dhead_train import metrics as M
from trans3dhead_train.geometry import LandmarkEmbedding, SEVEN_OF_68


def rot_z(deg):
    c, s = np.cos(np.radians(deg)), np.sin(np.radians(deg))
    return np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])


def grid_mesh():
    """80 vertices on a 10 x 8 grid with spacing 1 (z varies), 68 of them the landmarks (an
    embedding with barycentric (1, 0, 0)); landmarks 39 and 42 are 2 apart."""
    v = np.array([[i % 10, i // 10, 0.1 * ((i * 7) % 5)] for i in range(80)], np.float64)
    v[2, 2] = 0.0  # landmarks 39 (vertex 0) and 42 (vertex 2) exactly 2 apart
    # landmark l -> vertex perm[l]; put 39 -> vertex 0 and 42 -> vertex 2 (distance 2 in x).
    perm = list(range(1, 80))
    perm.remove(2)
    perm = perm[:68]
    perm[39], perm[42] = 0, 2
    faces = np.array([[p, p, p] for p in perm])
    emb = LandmarkEmbedding(faces, np.arange(68), np.tile([1.0, 0, 0], (68, 1)))
    return v, emb, perm


class Metrics(unittest.TestCase):
    def test_nme(self):
        gt = np.random.default_rng(0).uniform(0, 100, (68, 2))
        # Every point 5 px off (3, 4); normalised by sqrt(100 * 25) = 50 -> 10 %.
        self.assertAlmostEqual(M.nme(gt + [3, 4], gt, [7, 9, 100, 25]), 10.0, places=9)

    def test_pose_error(self):
        R = rot_z(20) @ np.diag([1.0, -1, -1])
        self.assertAlmostEqual(M.pose_error(R, R), 0.0, places=12)
        # ||I - Rz(90)||_F = 2 sqrt(1 - cos 90) = 2.
        self.assertAlmostEqual(M.pose_error(rot_z(90) @ R, R), 2.0, places=9)

    def test_zn(self):
        rng = np.random.default_rng(1)
        g = rng.normal(size=(200, 3))
        self.assertEqual(M.zn_accuracy(g, g), 1.0)
        self.assertEqual(M.zn_accuracy(g * [1, 1, -1], g), 0.0)   # every depth order reversed
        # The benchmark negates the world-frame truth: a prediction in the image frame
        # (world rotated by 180 degrees about x) agrees fully.
        world = g + [0, 0, -5]
        image = world * [1, -1, -1]
        self.assertEqual(M.z5(image, world, np.arange(200)), 1.0)
        # Points on a line, z = x, at x = 0, 1, 3, 6, 10, 15, ... (no ambiguous neighbours);
        # move vertex 0 far back: its 5 comparisons flip, and vertices 1-4 (which have vertex 0
        # among their 5 nearest; 5 and beyond do not) one each: 9 of 50 differ.
        x = np.array([0, 1, 3, 6, 10, 15, 21, 28, 36, 45], np.float64)
        line = np.stack([x, np.zeros(10), x], 1)
        pred = line.copy()
        pred[0, 2] = 100.0
        self.assertAlmostEqual(M.zn_accuracy(pred, line), 41 / 50)

    def test_chamfer(self):
        v, emb, perm = grid_mesh()
        face = np.array([10, 11, 12, 13])
        seven = emb.points(v)[SEVEN_OF_68]
        self.assertAlmostEqual(M.chamfer(v, seven, v, emb, face), 0.0, places=9)
        # A similarity transform of the prediction is undone by the 7-point alignment.
        T = 3.0 * (v @ rot_z(40).T) + [5, -2, 1]
        self.assertAlmostEqual(M.chamfer(T, emb.points(T)[SEVEN_OF_68], v, emb, face), 0.0, places=9)
        # Move one face vertex (not a landmark used for the alignment) by 0.3 in z: the truth is
        # scaled by 20 / 2 = 10, so its nearest predicted vertex is 3 away (the grid spacing is
        # 10): squared 9, averaged over the 4 face vertices.
        self.assertNotIn(13, [perm[i] for i in SEVEN_OF_68])
        p = v.copy()
        p[13, 2] += 0.3
        self.assertAlmostEqual(M.chamfer(p, emb.points(p)[SEVEN_OF_68], v, emb, face), 9 / 4, places=9)

    def test_procrustes(self):
        rng = np.random.default_rng(2)
        Y = rng.normal(size=(7, 3))
        X = 2.5 * Y @ rot_z(33) + [1, 2, 3]
        b, T, c = M.procrustes(X, Y)
        self.assertAlmostEqual(b, 2.5, places=9)
        np.testing.assert_allclose(b * Y @ T + c, X, atol=1e-9)

    def test_pose_mae_and_summary(self):
        r = M.pose_mae([[179, 0, 0], [0, 0, 0]], [[-179, 10, 0], [0, 0, 4]])
        self.assertAlmostEqual(r["pitch"], 1.0)
        self.assertAlmostEqual(r["yaw"], 5.0)
        self.assertAlmostEqual(r["roll"], 2.0)
        self.assertAlmostEqual(r["mean"], 8 / 3)
        s = M.summarize([{"nme": 1.0}, {"nme": 3.0}, {"nme": 5.0}], [{"pose": "front"}, {"pose": "front"}, {"pose": "sided"}])
        self.assertEqual(s["overall"]["nme"], 3.0)
        self.assertEqual(s["attributes"]["nme"]["pose"], {"front": 2.0, "sided": 5.0})


if __name__ == "__main__":
    unittest.main()
