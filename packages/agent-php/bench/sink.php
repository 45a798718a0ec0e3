<?php

// The relay stand-in of the benchmark: 202 to every batch, no decisions, nothing written.
header('content-type: application/json');
if (str_starts_with($_SERVER['REQUEST_URI'], '/v1/events')) {
    $n = substr_count((string) file_get_contents('php://input'), '"kind"');
    http_response_code(202);
    echo '{"accepted":' . $n . ',"rejected":0,"detections":0}';
} else {
    echo '{"version":"1","decisions":[]}';
}
return true;
