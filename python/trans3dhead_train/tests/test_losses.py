"""Each loss term on a hand-computed case, the weighted sum, and the Euler angles vs SciPy."""
import unittest

import numpy as np
import torch

from trans3dhead_ref.flame import pose_angles
from trans3dhead_train import losses as L
from trans3dhead_train.geometry import euler_angles, normalize_to_cube
from trans3dhead_train.synthetic import rotation_from_angles


class LossTerms(unittest.TestCase):
    def test_landmark_smooth_l1(self):
        # Differences 0, 0.1 (quadratic: 0.5 * 0.01) and 2, 0 (linear: 2 - 0.5) -> mean of 4 values.
        pred = torch.tensor([[[0.5, 0.5], [2.0, 0.0]]])
        gt = torch.tensor([[[0.5, 0.6], [0.0, 0.0]]])
        self.assertAlmostEqual(float(L.landmark_loss(pred, gt)), (0 + 0.005 + 1.5 + 0) / 4, places=6)

    def test_vertex3d_normalised_mse(self):
        # gt -> (-1,-.5,0), (1,-.5,0), (-1,.5,0); pred -> (-1,-1,0), (1,-1,0), (-1,1,0):
        # squared differences 0.25 * 3 over 9 elements.
        gt = torch.tensor([[[0.0, 0, 0], [2, 0, 0], [0, 1, 0]]])
        pred = torch.tensor([[[0.0, 0, 0], [4, 0, 0], [0, 4, 0]]])
        self.assertAlmostEqual(float(L.vertex3d_loss(pred, gt, torch.arange(3))), 0.75 / 9, places=6)
        # Scale and translation do not matter after the normalisation.
        self.assertAlmostEqual(float(L.vertex3d_loss(gt * 3 + 5, gt, torch.arange(3))), 0.0, places=6)
        # Only the subset counts.
        self.assertAlmostEqual(float(L.vertex3d_loss(torch.cat([gt, pred[:, :1] + 9], 1),
                                                     torch.cat([gt, gt[:, :1]], 1), torch.arange(3))), 0.0, places=6)
        n = normalize_to_cube(gt)
        self.assertTrue(torch.allclose(n, torch.tensor([[[-1, -0.5, 0], [1, -0.5, 0], [-1, 0.5, 0]]])))

    def test_reprojection_subset(self):
        pred = torch.tensor([[[0.5, 0.0], [3.0, 0.0], [100.0, 100.0]]])
        gt = torch.zeros(1, 3, 2)
        # vertices 0, 1 only: 0.5 * 0.25, 3 - 0.5, 0, 0 -> mean of 4.
        self.assertAlmostEqual(float(L.reprojection_loss(pred, gt, torch.tensor([0, 1]))), (0.125 + 2.5) / 4, places=6)

    def test_euler(self):
        R = torch.from_numpy(rotation_from_angles(10, 20, 30))[None]
        self.assertAlmostEqual(float(L.euler_loss(R, torch.tensor([[10.0, 20, 30]], dtype=torch.float64))), 0.0, places=6)
        # 2 degrees off in roll: smooth-L1 2 - 0.5 = 1.5, mean over 3 angles.
        self.assertAlmostEqual(float(L.euler_loss(R, torch.tensor([[10.0, 20, 32]], dtype=torch.float64))), 0.5, places=6)
        # Wrapped: pitch 179 vs -179 is 2 degrees apart, not 358.
        R = torch.from_numpy(rotation_from_angles(179, 0, 0))[None]
        self.assertAlmostEqual(float(L.euler_loss(R, torch.tensor([[-179.0, 0, 0]], dtype=torch.float64))), 0.5, places=5)

    def test_euler_matches_scipy(self):
        from scipy.spatial.transform import Rotation
        Rs = [r.T for r in Rotation.random(50, random_state=1).as_matrix()] + [np.diag([1.0, -1, -1])]
        Rs = np.stack(Rs)
        ours = euler_angles(torch.from_numpy(Rs)).numpy()
        ref = pose_angles(Rs)
        d = (ours - ref + 180) % 360 - 180
        self.assertLess(np.abs(d).max(), 1e-6)
        a = rotation_from_angles(-25, 40, 15)
        np.testing.assert_allclose(pose_angles(a[None])[0], [-25, 40, 15], atol=1e-9)

    def test_total_is_weighted_sum(self):
        from trans3dhead_ref import synthetic_flame
        from trans3dhead_ref.flame import FlameLayer
        from trans3dhead_ref.model import Trans3DHead
        from trans3dhead_train.tests.util import TINY
        torch.manual_seed(0)
        layer = FlameLayer(synthetic_flame.generate(0), 300, 100, 64)
        model = Trans3DHead(TINY)
        out = model(torch.randn(2, 3, 64, 64))
        V = layer.v_template.shape[0]
        batch = {"landmarks": torch.rand(2, 68, 2) * 64, "vertices": torch.randn(2, V, 3) * 0.1,
                 "projected": torch.rand(2, V, 2) * 64, "angles": torch.randn(2, 3) * 20}
        loss = L.Trans3DHeadLoss(layer, torch.arange(0, V, 7), 64, deep_supervision=False)
        total, t = loss(model, out, batch)
        self.assertAlmostEqual(float(total), 300 * t["lmk"] + 50 * t["3d"] + 0.05 * t["reproj"] + 0.05 * t["euler"], places=3)
        self.assertEqual(set(t), {"lmk", "3d", "reproj", "euler"})
        # Deep supervision adds the intermediate MARR output's landmark loss, same weight.
        total2, t2 = L.Trans3DHeadLoss(layer, torch.arange(0, V, 7), 64, deep_supervision=True)(model, out, batch)
        self.assertAlmostEqual(float(total2), float(total) + 300 * float(t2["lmk_aux"]), places=3)
        mid = L.landmark_layers(model, out)
        self.assertTrue(torch.allclose(mid[-1] * 64, out["landmarks"], atol=1e-5))
        self.assertAlmostEqual(float(t2["lmk_aux"]), float(L.landmark_loss(mid[0], batch["landmarks"] / 64)), places=6)


if __name__ == "__main__":
    unittest.main()
