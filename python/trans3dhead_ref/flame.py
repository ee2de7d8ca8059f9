"""FLAME layer, 6D rotation, projection and pose angles (SPEC sec. 6, DAD-3DNet), float32.

lbs / batch_rodrigues / batch_rigid_transform follow `smplx.lbs` operation by operation
(including its `+ 1e-8` inside the Rodrigues angle) so this is what DAD-3DNet computed."""
import numpy as np
import torch
import torch.nn.functional as F


def batch_rodrigues(rot_vecs):
    """(N, 3) axis-angle -> (N, 3, 3), as smplx."""
    n = rot_vecs.shape[0]
    angle = torch.norm(rot_vecs + 1e-8, dim=1, keepdim=True)
    rot_dir = rot_vecs / angle
    cos = torch.unsqueeze(torch.cos(angle), dim=1)
    sin = torch.unsqueeze(torch.sin(angle), dim=1)
    rx, ry, rz = torch.split(rot_dir, 1, dim=1)
    zeros = torch.zeros((n, 1), dtype=rot_vecs.dtype, device=rot_vecs.device)
    K = torch.cat([zeros, -rz, ry, rz, zeros, -rx, -ry, rx, zeros], dim=1).view((n, 3, 3))
    ident = torch.eye(3, dtype=rot_vecs.dtype, device=rot_vecs.device).unsqueeze(dim=0)
    return ident + sin * K + (1 - cos) * torch.bmm(K, K)


def transform_mat(R, t):
    """(N,3,3), (N,3,1) -> (N,4,4) [R t; 0 1]."""
    return torch.cat([F.pad(R, [0, 0, 0, 1]), F.pad(t, [0, 0, 0, 1], value=1)], dim=2)


def batch_rigid_transform(rot_mats, joints, parents):
    """Kinematic chain G_i = G_parent [R_i | J_i - J_parent]; returns posed joints and
    A_i = G_i - [0 | G_i J_i] (the transforms relative to the rest pose)."""
    joints = torch.unsqueeze(joints, dim=-1)
    rel_joints = joints.clone()
    rel_joints[:, 1:] -= joints[:, parents[1:]]
    transforms_mat = transform_mat(rot_mats.reshape(-1, 3, 3), rel_joints.reshape(-1, 3, 1)
                                   ).reshape(-1, joints.shape[1], 4, 4)
    chain = [transforms_mat[:, 0]]
    for i in range(1, parents.shape[0]):
        chain.append(torch.matmul(chain[parents[i]], transforms_mat[:, i]))
    transforms = torch.stack(chain, dim=1)
    posed_joints = transforms[:, :, :3, 3]
    joints_homogen = F.pad(joints, [0, 0, 0, 1])
    rel_transforms = transforms - F.pad(torch.matmul(transforms, joints_homogen), [3, 0, 0, 0, 0, 0, 0, 0])
    return posed_joints, rel_transforms


def lbs(betas, pose, v_template, shapedirs, posedirs, J_regressor, parents, lbs_weights):
    """smplx.lbs with pose2rot=True. betas (B, K), pose (B, J*3)."""
    b = max(betas.shape[0], pose.shape[0])
    v_shaped = v_template + torch.einsum("bl,mkl->bmk", [betas, shapedirs])
    J = torch.einsum("bik,ji->bjk", [v_shaped, J_regressor])
    ident = torch.eye(3, dtype=betas.dtype, device=betas.device)
    rot_mats = batch_rodrigues(pose.view(-1, 3)).view([b, -1, 3, 3])
    pose_feature = (rot_mats[:, 1:, :, :] - ident).view([b, -1])
    v_posed = torch.matmul(pose_feature, posedirs).view(b, -1, 3) + v_shaped
    _, A = batch_rigid_transform(rot_mats, J, parents)
    W = lbs_weights.unsqueeze(dim=0).expand([b, -1, -1])
    T = torch.matmul(W, A.view(b, J_regressor.shape[0], 16)).view(b, -1, 4, 4)
    v_posed_homo = torch.cat([v_posed, torch.ones([b, v_posed.shape[1], 1], dtype=betas.dtype, device=betas.device)], dim=2)
    v_homo = torch.matmul(T, torch.unsqueeze(v_posed_homo, dim=-1))
    return v_homo[:, :, :3, 0]


def rotation_6d_to_matrix(r6):
    """(B, 6) -> (B, 3, 3): b1 = n(a1), b3 = n(b1 x a2), b2 = -(b1 x b3); R = [b1 b2 b3] as columns."""
    a1, a2 = r6[:, 0:3], r6[:, 3:6]
    b1 = F.normalize(a1, dim=1)
    b3 = F.normalize(torch.cross(b1, a2, dim=1), dim=1)
    b2 = -torch.cross(b1, b3, dim=1)
    return torch.stack([b1, b2, b3], dim=2)


def pose_angles(R):
    """(N, 3, 3) rotations -> (N, 3) [pitch, yaw, roll] degrees (DAD-3DNet calculate_rpy):
    SciPy from_matrix(R.T).as_euler("xyz"), pitch = x - 180 wrapped to (-180, 180]."""
    import warnings
    from scipy.spatial.transform import Rotation
    R = np.asarray(R, dtype=np.float64)
    out = []
    for m in R:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # gimbal lock: SciPy sets the third angle to 0
            x, y, z = Rotation.from_matrix(m.T).as_euler("xyz", degrees=True)
        pitch = x - 180.0
        if pitch <= -180.0:
            pitch += 360.0
        out.append([pitch, y, z])
    return np.array(out)


def rot_mat_to_euler(rot_mats):
    """FLAME's (smplx's) angle about y of (N, 3, 3) rotations: atan2(-R20, sqrt(R00^2 + R10^2))."""
    sy = torch.sqrt(rot_mats[:, 0, 0] * rot_mats[:, 0, 0] + rot_mats[:, 1, 0] * rot_mats[:, 1, 0])
    return torch.atan2(-rot_mats[:, 2, 0], sy)


# Image frame (x right, y down, z away) -> FLAME's frame (y up, face towards +z).
IMAGE_TO_FLAME = torch.diag(torch.tensor([1.0, -1.0, -1.0]))


def dynamic_contour_rows(rotation, global_pose=None, neck_pose=None):
    """Row of FLAME's dynamic contour table (79 yaw bins) per item, as FLAME_PyTorch's
    _find_dynamic_lmk_idx_and_bcoords picks it, for our head rotation: the relative rotation of
    the neck chain (R_global R_neck, Rodrigues as smplx) is composed with the 6D rotation R
    (image frame) and brought to FLAME's frame, M = diag(1, -1, -1) R R_global R_neck;
    y = round(clamp(-angle_y(M) in degrees, max=39)); rows 0..39 for y >= 0, 39 - y for
    -39 <= y < 0, 78 below. rotation (B, 3, 3); poses (B, 3) axis-angle or None (zero)."""
    b = rotation.shape[0]
    zeros = rotation.new_zeros(b, 3)
    chain = [neck_pose if neck_pose is not None else zeros, global_pose if global_pose is not None else zeros]
    rel = torch.eye(3, dtype=rotation.dtype, device=rotation.device).expand(b, 3, 3)
    for aa in chain:  # FLAME's neck_kin_chain [neck, global]: rel = R_global @ (R_neck @ I)
        rel = torch.bmm(batch_rodrigues(aa), rel)
    M = IMAGE_TO_FLAME.to(rotation) @ torch.bmm(rotation, rel)
    y = torch.round(torch.clamp(-rot_mat_to_euler(M) * 180.0 / np.pi, max=39)).to(dtype=torch.long)
    neg_mask = y.lt(0).to(dtype=torch.long)
    mask = y.lt(-39).to(dtype=torch.long)
    neg_vals = mask * 78 + (1 - mask) * (39 - y)
    return neg_mask * neg_vals + (1 - neg_mask) * y


class FlameLayer(torch.nn.Module):
    """FLAME + DAD-3DNet's projection head, on canonical arrays (synthetic_flame.generate or
    synthetic_flame.load_published output)."""

    def __init__(self, flame, n_shape=300, n_expr=100, image_size=256):
        super().__init__()
        t = lambda k: torch.tensor(np.asarray(flame[k], dtype=np.float32))
        sd = t("shapedirs")
        # betas = [shape (first n_shape of the 300 shape dirs), expression (first n_expr of the 100)]
        self.register_buffer("shapedirs", torch.cat([sd[..., :n_shape], sd[..., 300:300 + n_expr]], dim=2))
        for k in ("v_template", "posedirs", "J_regressor", "weights"):
            self.register_buffer(k, t(k))
        self.parents = torch.tensor(np.asarray(flame["parents"], dtype=np.int64))
        self.faces = torch.tensor(np.asarray(flame["faces"], dtype=np.int64))
        self.lmk_faces_idx = self.lmk_bary_coords = None
        if "lmk_faces_idx" in flame:
            self.lmk_faces_idx = torch.tensor(np.asarray(flame["lmk_faces_idx"], dtype=np.int64))
            self.lmk_bary_coords = t("lmk_bary_coords")
        # FLAME's dynamic contour (flame_dynamic_embedding.npy): (79, 17) faces and (79, 17, 3)
        # barycentrics, one row per yaw bin, replacing landmarks 0..16 by the head's yaw.
        self.dyn_faces_idx = self.dyn_bary_coords = None
        if self.lmk_faces_idx is not None and "dynamic_lmk_faces_idx" in flame:
            self.dyn_faces_idx = torch.tensor(np.asarray(flame["dynamic_lmk_faces_idx"], dtype=np.int64))
            self.dyn_bary_coords = t("dynamic_lmk_bary_coords")
            if self.dyn_faces_idx.shape != (79, 17) or self.dyn_bary_coords.shape != (79, 17, 3):
                raise ValueError(f"dynamic contour: expected (79, 17) and (79, 17, 3), got "
                                 f"{tuple(self.dyn_faces_idx.shape)} and {tuple(self.dyn_bary_coords.shape)}")
        self.n_shape, self.n_expr, self.image_size = n_shape, n_expr, image_size

    def forward(self, params, global_pose=None, neck_pose=None, eye_pose=None):
        """params (B, n_shape + n_expr + 13) raw network output. Optional poses (axis-angle):
        global (B,3), neck (B,3), eyes (B,6) (default zero, as DAD-3DNet). Returns crop-space
        results: vertices (B,V,3) = R v, projected (B,V,2) crop pixels, rotation (B,3,3),
        landmarks3d (B,68,3) when the embedding is present (0..16 by yaw row, contour_rows (B), with the
        dynamic contour), and the FLAME output before the
        rotation, flame_vertices (after z += 0.05)."""
        b, o = params.shape[0], self.n_shape + self.n_expr
        zeros3 = params.new_zeros(b, 3)
        betas = params[:, :o]
        jaw, rot6d = params[:, o:o + 3], params[:, o + 3:o + 9]
        trans, scale = params[:, o + 9:o + 12], params[:, o + 12:o + 13]
        pose = torch.cat([zeros3 if global_pose is None else global_pose,
                          zeros3 if neck_pose is None else neck_pose, jaw,
                          params.new_zeros(b, 6) if eye_pose is None else eye_pose], dim=1)
        v = lbs(betas, pose, self.v_template, self.shapedirs, self.posedirs, self.J_regressor,
                self.parents, self.weights)
        v = v + torch.tensor([0.0, 0.0, 0.05], device=v.device)                 # v.z += 0.05
        R = rotation_6d_to_matrix(rot6d)
        vertices = torch.einsum("bij,bvj->bvi", R, v)         # R v per vertex
        s = torch.clamp(scale + 1.0, min=1e-8)[:, None]       # (B,1,1)
        t = torch.cat([trans[:, :2], torch.zeros_like(trans[:, 2:])], dim=1)[:, None]
        projected = ((s * vertices + t) + 1.0) / 2.0 * self.image_size
        out = {"flame_vertices": v, "vertices": vertices, "projected": projected[..., :2], "rotation": R}
        if self.lmk_faces_idx is not None:
            idx = self.lmk_faces_idx.expand(b, -1)
            bary = self.lmk_bary_coords.to(vertices).expand(b, -1, -1)
            if self.dyn_faces_idx is not None:
                rows = dynamic_contour_rows(R, global_pose, neck_pose)
                out["contour_rows"] = rows
                idx = torch.cat([self.dyn_faces_idx[rows], idx[:, 17:]], 1)
                bary = torch.cat([self.dyn_bary_coords.to(vertices)[rows], bary[:, 17:]], 1)
            tri = vertices[torch.arange(b)[:, None, None], self.faces[idx]]  # (B, 68, 3 corners, 3)
            out["landmarks3d"] = torch.einsum("blfi,blf->bli", tri, bary)
        return out
