"""The DAD-3DHeads-format reader on the committed mini fixture (make_mini_fixture.py): labels
against hand-computed numbers, pixels against SPEC's preprocessing, and clear errors."""
import json
import os
import shutil
import tempfile
import unittest

import numpy as np
import torch
from PIL import Image

from trans3dhead_ref.preprocess import crop_box, preprocess
from trans3dhead_train.dataset import DadHeads
from trans3dhead_train.geometry import load_landmark_embedding
from trans3dhead_train.tests.util import FIXTURE


def embedding():
    with open(os.path.join(FIXTURE, "mini_embedding.json")) as f:
        faces = json.load(f)["faces"]
    return load_landmark_embedding(faces, os.path.join(FIXTURE, "mini_embedding.json"))


class Reader(unittest.TestCase):
    def setUp(self):
        self.ds = DadHeads(FIXTURE, "train", embedding(), 256)

    def test_labels_by_hand(self):
        it = self.ds[0]
        # Landmark 0 = vertex (-0.45, -0.3, 0) -> world (-0.45, -0.3, -2) -> pixel
        # x = 100 * -0.45 / 2 + 24 = 1.5, y = 40 - (100 * -0.3 / 2 + 20) = 35.
        # Box [10, 8, 24, 20] + 10 % per side -> x 7.6..36.4, y 6..30 -> crop (7, 6, 29, 24);
        # k = 256 / 29, resized 212 x 256, pad_top (256 - 212) >> 1 = 22, pad_left 0.
        k = 256 / 29
        np.testing.assert_allclose(it["transform"].numpy(), [k, 0, 22, 7, 6], rtol=1e-12)
        np.testing.assert_allclose(it["landmarks"][0].numpy(), [(1.5 - 7) * k, (35 - 6) * k + 22], rtol=1e-5)
        # Landmark 67 = vertex (0.25, 0.3, 0) -> pixel (36.5, 5).
        np.testing.assert_allclose(it["landmarks"][67].numpy(), [29.5 * k, -1 * k + 22], rtol=1e-5)
        # The two extra vertices (0, 0, -+0.2) project to the image centre (24, 20).
        np.testing.assert_allclose(it["projected"][68].numpy(), [17 * k, 14 * k + 22], rtol=1e-5)
        self.assertEqual(tuple(it["vertices"].shape), (70, 3))
        np.testing.assert_allclose(it["rotation"].numpy(), np.diag([1, -1, -1]), atol=1e-7)
        np.testing.assert_allclose(it["angles"].numpy(), [0, 0, 0], atol=1e-4)

    def test_rotation_label(self):
        # Model-view rotation Ry(30) in the world frame: R = diag(1,-1,-1) Ry(30) -> yaw -30.
        it = self.ds[1]
        np.testing.assert_allclose(it["angles"].numpy(), [0, -30, 0], atol=1e-4)
        self.assertEqual(self.ds.items[1].get("img_path"), None)  # found through images/<id>.png

    def test_pixels_are_spec_preprocessing(self):
        it = self.ds[0]
        img = np.array(Image.open(os.path.join(FIXTURE, "DAD-3DHeadsDataset/train/images/frontal.png")).convert("RGB"))
        x, _ = preprocess(crop_box(img, (7, 6, 29, 24)), 256)
        self.assertTrue(torch.equal(it["input"], x[0]))

    def test_avg_face_is_mean_of_labels(self):
        m = self.ds.mean_landmarks()
        ref = (self.ds[0]["landmarks"].numpy() + self.ds[1]["landmarks"].numpy()) / 2 / 256
        np.testing.assert_allclose(m, ref, atol=1e-5)

    def test_augmentation_keeps_labels_on_the_pixels(self):
        # Augmented crops: the same image point must carry the same label. The image is a
        # ramp (red = 5 x, green = 6 y): the pixel under a projected vertex tells where it is.
        ds = DadHeads(FIXTURE, "train", embedding(), 256, augment={"brightness": 0, "contrast": 0,
                                                                   "saturation": 0, "grayscale": 0})
        for epoch in range(3):
            ds.set_epoch(epoch)
            it = ds[0]
            k, pl, pt, bx, by = it["transform"].tolist()
            x = it["input"].numpy() * np.array([0.229, 0.224, 0.225])[:, None, None] + np.array([0.485, 0.456, 0.406])[:, None, None]
            px, py = it["projected"][68].numpy()  # image point (24, 20)
            r, g = x[0, int(py), int(px)] * 255, x[1, int(py), int(px)] * 255
            self.assertLess(abs(r / 5 - 24), 1.0 + 1 / k)
            self.assertLess(abs(g / 6 - 20), 1.0 + 1 / k)
            np.testing.assert_allclose((it["landmarks"][0].numpy() - [pl, pt]) / k + [bx, by], [1.5, 35], atol=1e-4)

    def test_errors_say_what_to_do(self):
        with self.assertRaisesRegex(FileNotFoundError, "DAD-3DHeadsDataset"):
            DadHeads(FIXTURE, "val", embedding())
        d = tempfile.mkdtemp()
        try:
            shutil.copytree(FIXTURE, d, dirs_exist_ok=True)
            p = os.path.join(d, "DAD-3DHeadsDataset/train/annotations/frontal.json")
            with open(p) as f:
                a = json.load(f)
            del a["model_view_matrix"]
            with open(p, "w") as f:
                json.dump(a, f)
            with self.assertRaisesRegex(ValueError, "model_view_matrix"):
                DadHeads(d, "train", embedding())[0]
        finally:
            shutil.rmtree(d)
        with self.assertRaisesRegex(ValueError, "68"):
            load_landmark_embedding([[0, 1, 2]], None, flame={"lmk_faces_idx": [0] * 51, "lmk_bary_coords": [[1, 0, 0]] * 51})


class FlameFiles(unittest.TestCase):
    def test_flame_and_embedding_files(self):
        """The trainer reads a FLAME from the published pickle or an .npz, and the embedding from
        DAD-3DHeads' static (51) + dynamic (contour table) pair, into the canonical arrays."""
        import pickle
        from trans3dhead_ref import synthetic_flame
        from trans3dhead_train.train import load_flame
        ref = synthetic_flame.generate(0)
        d = tempfile.mkdtemp()
        try:
            synthetic_flame.write_generic_model_pkl(os.path.join(d, "generic_model.pkl"), ref)
            synthetic_flame.write_npz(os.path.join(d, "generic_model.npz"), ref)
            idx, bary = np.asarray(ref["lmk_faces_idx"]), np.asarray(ref["lmk_bary_coords"], np.float64)
            with open(os.path.join(d, "static.pkl"), "wb") as f:
                pickle.dump({"lmk_face_idx": idx[17:], "lmk_b_coords": bary[17:]}, f, protocol=2)
            table = {"lmk_face_idx": np.stack([idx[:17]] + [idx[:17][::-1]] * 78),   # row 0: zero pose
                     "lmk_b_coords": np.stack([bary[:17]] + [bary[:17][::-1]] * 78)}
            np.save(os.path.join(d, "dynamic.npy"), np.array(table, dtype=object), allow_pickle=True)
            for name in ("generic_model.pkl", "generic_model.npz"):
                flame, emb = load_flame({"flame": os.path.join(d, name), "flame_landmarks": os.path.join(d, "static.pkl"),
                                         "flame_landmarks_dynamic": os.path.join(d, "dynamic.npy")})
                for k in ("v_template", "shapedirs", "posedirs", "J_regressor", "weights", "faces"):
                    np.testing.assert_allclose(np.asarray(flame[k], np.float64), np.asarray(ref[k], np.float64),
                                               atol=1e-7, err_msg=f"{name} {k}")
                self.assertEqual(list(flame["parents"]), [-1, 0, 1, 1, 1])
                np.testing.assert_array_equal(emb.idx, idx)
                np.testing.assert_allclose(emb.bary, bary)
                # The whole contour table is kept: points by yaw row match FlameLayer's landmarks3d.
                np.testing.assert_array_equal(emb.dyn_idx, table["lmk_face_idx"])
            from trans3dhead_ref.flame import FlameLayer
            layer = FlameLayer(dict(ref, dynamic_lmk_faces_idx=emb.dyn_idx, dynamic_lmk_bary_coords=emb.dyn_bary))
            p = torch.zeros(3, 413)
            for b, yaw in enumerate((0.0, 0.3, -0.3)):  # FLAME bin angles 0, -17.2, +17.2 degrees: rows 0, 56, 17
                p[b, 403:409] = torch.tensor([np.cos(yaw), 0, np.sin(yaw), 0, -1, 0])
            with torch.no_grad():
                o = layer(p)
            rows = emb.contour_rows(o["rotation"])
            self.assertEqual(rows.tolist(), o["contour_rows"].tolist())
            self.assertEqual(rows.tolist(), [0, 56, 17])
            np.testing.assert_allclose(emb.points(o["vertices"], rows).numpy(), o["landmarks3d"].numpy(), atol=1e-6)
            np.testing.assert_allclose(emb.points(o["vertices"].numpy(), rows.numpy()), o["landmarks3d"].numpy(), atol=1e-6)
            np.testing.assert_allclose(emb.points(o["vertices"][0]).numpy(), o["landmarks3d"][0].numpy(), atol=1e-6)
            with self.assertRaisesRegex(ValueError, "no dynamic contour"):
                load_landmark_embedding(ref["faces"], flame=ref).points(o["vertices"], rows)
            with self.assertRaisesRegex(ValueError, "dynamic"):
                load_landmark_embedding(ref["faces"], os.path.join(d, "static.pkl"))
        finally:
            shutil.rmtree(d)


if __name__ == "__main__":
    unittest.main()
