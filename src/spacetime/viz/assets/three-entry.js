// The parts of three.js that spacetime's viewer (viewer.js) uses, bundled by build_three.sh into
// three.bundle.min.js (one classic script defining window.THREE; no module loading, so the pages
// work from file:// and inside Jupyter's iframes).
export {
  AmbientLight, Box3, BoxGeometry, BufferAttribute, BufferGeometry, Color, ColorManagement,
  DirectionalLight, DoubleSide, Group, HemisphereLight, InstancedBufferAttribute, InstancedMesh,
  LinearSRGBColorSpace, LineBasicMaterial, LineSegments, Matrix4, Mesh, MeshBasicMaterial,
  MeshPhongMaterial, NoColorSpace, PerspectiveCamera, Points, PointsMaterial, REVISION, Scene,
  Sphere, Texture, Vector3, WebGLRenderer, WireframeGeometry,
} from 'three';
export { OrbitControls } from 'three/addons/controls/OrbitControls.js';
