"""Domain-adaptation methods, one module per method; importing this package registers them all."""
from dabench.methods import cdan as cdan
from dabench.methods import cdlm as cdlm
from dabench.methods import dann as dann
from dabench.methods import pixelda_lite as pixelda_lite
from dabench.methods import source_only as source_only
from dabench.methods import target_only as target_only
from dabench.methods import unit_lite as unit_lite
