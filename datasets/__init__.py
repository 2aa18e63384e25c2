"""Dataset loaders, one module per dataset; importing this package registers them all."""
from dabench.datasets import bsds500 as bsds500
from dabench.datasets import celeba_sketch as celeba_sketch
from dabench.datasets import edges2shoes as edges2shoes
from dabench.datasets import fashion as fashion
from dabench.datasets import fashionm as fashionm
from dabench.datasets import linemod as linemod
from dabench.datasets import mnist as mnist
from dabench.datasets import mnistm as mnistm
from dabench.datasets import usps as usps
