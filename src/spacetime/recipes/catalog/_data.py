"""Data-preparation texts and data strings the recipes share (one place per dataset)."""

__all__ = ["R2N2", "R2N2_PREPARE", "UCF101", "UCF101_PREPARE", "PIX3D_PREPARE",
           "R2N2_TRAIN_IMAGES", "MESH_IO_CAVEAT"]

#: ``--data DATA`` for the R2N2 recipes: DATA holds the four items below
R2N2 = ("r2n2:{data}/ShapeNetCore.v1:{data}/ShapeNetRendering:{data}/ShapeNetVox32:"
        "{data}/pix2mesh_splits_val05.json")
#: R2N2 training views: 35,011 train models x 24 renderings (Mesh R-CNN's split)
R2N2_TRAIN_IMAGES = 840_189

R2N2_PREPARE = """\
1. ShapeNetCore v1 (registration at https://shapenet.org): unpack to `DATA/ShapeNetCore.v1/`
   (`<synset>/<model>/model.obj`; used for the surface samples of the mesh metrics).
2. The R2N2 renderings, http://cvgl.stanford.edu/data2/ShapeNetRendering.tgz, unpacked to
   `DATA/ShapeNetRendering/<synset>/<model>/rendering/{00..23}.png` +
   `rendering_metadata.txt` (137×137 RGBA).
3. The R2N2 voxels, http://cvgl.stanford.edu/data2/ShapeNetVox32.tgz, unpacked to
   `DATA/ShapeNetVox32/<synset>/<model>/model.binvox` (32³).
4. The split file of Mesh R-CNN / PyTorch3D, `pix2mesh_splits_val05.json` (from Mesh R-CNN's
   `datasets/shapenet/download_shapenet.sh`), as `DATA/pix2mesh_splits_val05.json`
   (`{"train": {synset: {model: [views]}}, ...}`; our own `{synset: {"train": [...]}}` form
   is read too). 13 categories, 35,011 train / 8,757 test models.

Layout (what `spacetime.shapes.datasets.R2N2` reads, docs/datasets_3d.md):

    DATA/ShapeNetCore.v1/<synset>/<model>/model.obj
    DATA/ShapeNetRendering/<synset>/<model>/rendering/00.png … 23.png, rendering_metadata.txt
    DATA/ShapeNetVox32/<synset>/<model>/model.binvox
    DATA/pix2mesh_splits_val05.json
"""

#: ``--data DATA`` for the UCF101 recipes (split 1: ``fold=1``)
UCF101 = "ucf101:{data}/UCF-101:{data}/ucfTrainTestlist"

UCF101_PREPARE = """\
1. The videos, https://www.crcv.ucf.edu/data/UCF101/UCF101.rar, unpacked to
   `DATA/UCF-101/<Class>/v_<Class>_gXX_cYY.avi` (13,320 videos, 101 classes).
2. The split lists, https://www.crcv.ucf.edu/data/UCF101/UCF101TrainTestSplits-RecognitionTask.zip,
   unpacked to `DATA/ucfTrainTestlist/` (`classInd.txt`, `trainlist01.txt`, `testlist01.txt`, …).
   Split 1: 9,537 training / 3,783 test videos; validation is carved from the training list
   by group (`spacetime.video.datasets.splits`), so the test list never picks a checkpoint.

Layout (what `spacetime.video.datasets.UCF101` reads, docs/video_data.md):

    DATA/UCF-101/ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi …
    DATA/ucfTrainTestlist/classInd.txt, trainlist01.txt, testlist01.txt
"""

PIX3D_PREPARE = """\
1. Pix3D, http://pix3d.csail.mit.edu/data/pix3d.zip, unpacked to `DATA/` (`pix3d.json`,
   `img/`, `mask/`, `model/`; 10,069 images of 395 IKEA models, 9 categories).
2. Mesh R-CNN's S1 / S2 split files (COCO-style JSON; fetched by Mesh R-CNN's
   `datasets/pix3d/download_pix3d.sh`): `pix3d_s1_train.json`, `pix3d_s1_test.json`,
   `pix3d_s2_train.json`, `pix3d_s2_test.json`, placed in `DATA/`.
3. Optional, as the paper: a COCO-trained Mask R-CNN R50-FPN state dict (torchvision's
   `maskrcnn_resnet50_fpn_coco-bf2d0c1e.pth`) as `DATA/maskrcnn_resnet50_fpn_coco.pth`, given
   with `overrides={"detector_checkpoint": ...}` (nothing is downloaded at run time).

Layout (what `spacetime.shapes.datasets.Pix3D` reads, docs/datasets_3d.md):

    DATA/pix3d.json
    DATA/img/<category>/0001.jpg, DATA/mask/<category>/0001.png
    DATA/model/<category>/<model>/model.obj
    DATA/pix3d_s1_train.json, DATA/pix3d_s1_test.json (S2: pix3d_s2_*.json)
"""

#: appended to the GPU-hour basis of the recipes that read a mesh file per item
MESH_IO_CAVEAT = (
    " Not included: mesh reading. The API reads each item's ShapeNet OBJ / ModelNet OFF file "
    "anew (no decoded-mesh cache is passed to ShapeNetCore / R2N2 / ModelNet; parsing takes "
    "~0.15 s per 20k-face mesh, docs/datasets_3d.md), which at this scale may bound the run on "
    "the data-loading CPUs rather than on the GPU; not measured."
)
